// A tree-walking interpreter with Jinja2's scoping: `for` bodies, macros, `with` and block
// captures get a scope of their own (a fresh one per loop iteration), `if` does not, so a `set`
// inside a loop is invisible after it unless it goes through a namespace().
#include "purelm/tokenizer/jinja/interpreter.h"

#include "purelm/core/error.h"
#include "purelm/tokenizer/jinja/runtime.h"

namespace purelm::jinja {
namespace {

constexpr int kMaxCallDepth = 200;  // nested macro calls / recursive loops

struct Scope {
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;

  const Value* find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent.get())
      for (const auto& [k, v] : s->vars)
        if (k == name) return &v;
    return nullptr;
  }
  void set(const std::string& name, Value value) {
    for (auto& [k, v] : vars)
      if (k == name) {
        v = std::move(value);
        return;
      }
    vars.emplace_back(name, std::move(value));
  }
};
using ScopePtr = std::shared_ptr<Scope>;

ScopePtr child(ScopePtr parent) {
  auto s = std::make_shared<Scope>();
  s->parent = std::move(parent);
  return s;
}

// The budget of the render running on this thread (runtime.h), null outside one.
struct Budget {
  uint64_t steps = 0, bytes = 0;
};
thread_local Budget* budget = nullptr;

enum class Flow { Normal, Break, Continue };

class Interpreter;

// A macro (or a call block's caller) closed over the scope it was defined in.
struct Macro : Object {
  Macro(Interpreter& in, const MacroDef& d, const ScopePtr& s) : interp(in), def(d), scope(s) {}
  std::string type_name() const override { return "Macro"; }
  std::string repr() const override { return "<Macro '" + def.name + "'>"; }
  Value attr(const std::string& name) const override {
    if (name == "name") return Value(def.name);
    return Object::attr(name);
  }
  bool callable() const override { return true; }
  Value call(const Args& args) override;

  Interpreter& interp;
  const MacroDef& def;
  std::weak_ptr<Scope> scope;  // weak: the scope usually holds the macro itself
};

// The `loop` variable.
struct LoopContext : Object, std::enable_shared_from_this<LoopContext> {
  ValueList items;
  size_t index0 = 0;
  int depth = 1;
  std::function<Value(const Value&)> recurse;  // set for `recursive` loops
  std::optional<Value> last_changed;

  std::string type_name() const override { return "LoopContext"; }
  std::string repr() const override {
    return "<LoopContext " + std::to_string(index0 + 1) + "/" + std::to_string(items.size()) + ">";
  }
  Value attr(const std::string& name) const override {
    auto n = static_cast<int64_t>(items.size()), i = static_cast<int64_t>(index0);
    if (name == "index") return Value(i + 1);
    if (name == "index0") return Value(i);
    if (name == "revindex") return Value(n - i);
    if (name == "revindex0") return Value(n - i - 1);
    if (name == "first") return Value(i == 0);
    if (name == "last") return Value(i == n - 1);
    if (name == "length") return Value(n);
    if (name == "depth") return Value(depth);
    if (name == "depth0") return Value(depth - 1);
    if (name == "previtem")
      return i > 0 ? items[i - 1] : Value::undefined("there is no previous item");
    if (name == "nextitem")
      return i + 1 < n ? items[i + 1] : Value::undefined("there is no next item");
    if (name == "cycle") {
      size_t at = index0;
      return make_function("loop.cycle", [at](const Args& a) {
        if (a.positional.empty()) throw TemplateError("no items for cycling given");
        return a.positional[at % a.positional.size()];
      });
    }
    if (name == "changed") {
      auto self = std::const_pointer_cast<LoopContext>(shared_from_this());
      return make_function("loop.changed", [self](const Args& a) {
        Value now(a.positional, List::Shape::Tuple);
        if (self->last_changed && equal(*self->last_changed, now)) return Value(false);
        self->last_changed = now;
        return Value(true);
      });
    }
    return Object::attr(name);
  }
  bool callable() const override { return true; }
  Value call(const Args& args) override {
    if (!recurse)
      throw TemplateError("The loop must have the 'recursive' marker to be called recursively.");
    Params p("loop", args, {"iterable"}, 1);
    return recurse(p[0]);
  }
};

class Interpreter {
 public:
  explicit Interpreter(const nlohmann::ordered_json& context) : scope_(std::make_shared<Scope>()) {
    scope_->vars = global_functions();
    scope_ = child(scope_);
    for (const auto& [k, v] : context.items()) scope_->set(k, Value::from_json(v));
    scope_ = child(scope_);  // the template's own variables shadow the context
  }

  std::string run(const Body& body) { return capture(body, scope_); }

  Value call_macro(const Macro& m, const Args& args) {
    const MacroDef& d = m.def;
    ScopePtr parent = m.scope.lock();
    if (!parent) throw TemplateError("macro '" + d.name + "' called after its scope ended");
    if (depth_ >= kMaxCallDepth) throw TemplateError("maximum recursion depth exceeded");
    size_t np = d.params.size();
    std::vector<const Value*> bound(np, nullptr);
    ValueList extra;
    for (size_t i = 0; i < args.positional.size(); ++i) {
      if (i < np)
        bound[i] = &args.positional[i];
      else
        extra.push_back(args.positional[i]);
    }
    if (!extra.empty() && !d.uses_varargs)
      throw TemplateError("macro '" + d.name + "' takes not more than " + std::to_string(np) +
                          " argument(s)");
    Dict kwargs;
    Value caller = Value::undefined("No caller defined");
    for (const auto& [k, v] : args.keyword) {
      auto it = std::find(d.params.begin(), d.params.end(), k);
      if (it != d.params.end()) {
        auto i = static_cast<size_t>(it - d.params.begin());
        if (bound[i])
          throw TemplateError("macro '" + d.name + "' got multiple values for argument '" + k +
                              "'");
        bound[i] = &v;
      } else if (k == "caller" && d.uses_caller) {
        caller = v;
      } else if (d.uses_kwargs) {
        kwargs.set(Value(k), v);
      } else {
        throw TemplateError("macro '" + d.name + "' takes no keyword argument '" + k + "'");
      }
    }
    ScopePtr s = child(parent), saved = scope_;
    scope_ = s;  // defaults see the macro's scope and the parameters before them
    for (size_t i = 0; i < np; ++i) {
      if (bound[i])
        s->set(d.params[i], *bound[i]);
      else if (d.defaults[i])
        s->set(d.params[i], eval(*d.defaults[i]));
      else
        s->set(d.params[i], Value::undefined("parameter '" + d.params[i] + "' was not provided"));
    }
    if (d.uses_varargs) s->set("varargs", Value(std::move(extra), List::Shape::Tuple));
    if (d.uses_kwargs) s->set("kwargs", Value(std::move(kwargs)));
    if (d.uses_caller) s->set("caller", caller);
    scope_ = saved;
    ++depth_;
    std::string out = capture(d.body, s);
    --depth_;
    return Value(std::move(out));
  }

 private:
  // Renders `body` in `scope` into a string of its own.
  std::string capture(const Body& body, ScopePtr scope) {
    std::string buffer, *saved_out = out_;
    ScopePtr saved_scope = std::move(scope_);
    out_ = &buffer;
    scope_ = std::move(scope);
    exec(body);
    out_ = saved_out;
    scope_ = std::move(saved_scope);
    return buffer;
  }

  Flow exec(const Body& body) {
    for (const auto& s : body) {
      Flow f = exec(*s);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

  Flow exec(const Stmt& s) {
    try {
      charge_steps(1);
      return std::visit([&](const auto& node) { return run(node); }, s.node);
    } catch (const TemplateError& e) {
      fail_at(s.pos, e.what());
    }
  }

  void emit(const std::string& text) {
    charge_bytes(text.size());
    *out_ += text;
  }

  Flow run(const Stmt::Text& t) {
    emit(t.text);
    return Flow::Normal;
  }
  Flow run(const Stmt::Output& o) {
    emit(eval(*o.expr).str());
    return Flow::Normal;
  }
  Flow run(const Stmt::If& node) {
    for (const auto& [test, body] : node.branches)
      if (eval(*test).truthy()) return exec(body);
    return exec(node.otherwise);
  }
  Flow run(const Stmt::For& f) {
    Value iterable = eval(*f.iter);
    ValueList items;
    try {
      items = iterate(iterable);
    } catch (const TemplateError& e) {
      fail_at(f.iter->pos, e.what());
    }
    loop(f, std::move(items), 1);
    return Flow::Normal;
  }
  Flow run(const Stmt::Set& s) {
    assign(s.target, eval(*s.value), *scope_);
    return Flow::Normal;
  }
  Flow run(const Stmt::SetBlock& s) {
    Value v(capture(s.body, child(scope_)));
    for (const auto& f : s.filters) v = apply(f, v);
    assign(s.target, v, *scope_);
    return Flow::Normal;
  }
  Flow run(const Stmt::Macro& m) {
    scope_->set(m.def->name, Value(std::make_shared<Macro>(*this, *m.def, scope_)));
    return Flow::Normal;
  }
  Flow run(const Stmt::CallBlock& c) {
    const auto& call = std::get<Expr::Call>(c.call->node);
    Value callee = eval(*call.callee);
    Args args = eval_args(call.args);
    args.keyword.emplace_back("caller", Value(std::make_shared<Macro>(*this, *c.caller, scope_)));
    try {
      emit(jinja::call(callee, args).str());
    } catch (const TemplateError& e) {
      fail_at(c.call->pos, e.what());
    }
    return Flow::Normal;
  }
  Flow run(const Stmt::FilterBlock& fb) {
    Value v(capture(fb.body, child(scope_)));
    for (const auto& f : fb.filters) v = apply(f, v);
    emit(v.str());
    return Flow::Normal;
  }
  Flow run(const Stmt::With& w) {
    ValueList values;  // evaluated in the enclosing scope, like Jinja2
    for (const auto& a : w.assignments) values.push_back(eval(*a.second));
    ScopePtr s = child(scope_);
    for (size_t i = 0; i < values.size(); ++i) assign(w.assignments[i].first, values[i], *s);
    emit(capture(w.body, s));
    return Flow::Normal;
  }
  Flow run(const Stmt::Scope& sc) {
    emit(capture(sc.body, child(scope_)));
    return Flow::Normal;
  }
  Flow run(const Stmt::Break&) { return Flow::Break; }
  Flow run(const Stmt::Continue&) { return Flow::Continue; }

  void loop(const Stmt::For& f, ValueList items, int depth) {
    ScopePtr outer = scope_;
    if (f.filter) {  // `for x in xs if cond`: filtered before the loop, so loop.length agrees
      ValueList kept;
      for (Value& item : items) {
        charge_steps(1);
        scope_ = child(outer);
        assign(f.target, item, *scope_);
        if (eval(*f.filter).truthy()) kept.push_back(std::move(item));
      }
      scope_ = outer;
      items = std::move(kept);
    }
    if (items.empty()) {
      emit(capture(f.otherwise, child(outer)));
      return;
    }
    auto ctx = std::make_shared<LoopContext>();
    ctx->items = std::move(items);
    ctx->depth = depth;
    if (f.recursive)
      ctx->recurse = [this, &f, depth, outer](const Value& iterable) {
        if (depth_ >= kMaxCallDepth) throw TemplateError("maximum recursion depth exceeded");
        std::string buffer, *saved_out = out_;
        ScopePtr saved_scope = scope_;
        out_ = &buffer;
        scope_ = outer;
        ++depth_;
        loop(f, iterate(iterable), depth + 1);
        --depth_;
        out_ = saved_out;
        scope_ = saved_scope;
        return Value(std::move(buffer));
      };
    Value loop_var{std::shared_ptr<Object>(ctx)};
    for (size_t i = 0; i < ctx->items.size(); ++i) {
      charge_steps(1);
      ctx->index0 = i;
      scope_ = child(outer);
      assign(f.target, ctx->items[i], *scope_);
      scope_->set("loop", loop_var);
      Flow flow = exec(f.body);
      scope_ = outer;
      if (flow == Flow::Break) break;
    }
  }

  void assign(const Target& t, const Value& v, Scope& s) {
    if (!t.attr.empty()) {
      const Value* ns = scope_->find(t.name);
      auto* n = ns && ns->kind() == Value::Kind::Object ? dynamic_cast<Namespace*>(&ns->as_object())
                                                        : nullptr;
      if (!n) throw TemplateError("cannot assign attribute on non-namespace object");
      n->attrs.set(Value(t.attr), v);
    } else if (!t.tuple) {
      s.set(t.name, v);
    } else {
      ValueList items = iterate(v);
      if (items.size() < t.items.size())
        throw TemplateError("not enough values to unpack (expected " +
                            std::to_string(t.items.size()) + ", got " +
                            std::to_string(items.size()) + ")");
      if (items.size() > t.items.size())
        throw TemplateError("too many values to unpack (expected " +
                            std::to_string(t.items.size()) + ")");
      for (size_t i = 0; i < items.size(); ++i) assign(t.items[i], items[i], s);
    }
  }

  Args eval_args(const CallArgs& c) {
    Args a;
    for (const auto& p : c.positional) a.positional.push_back(eval(*p));
    for (const auto& [k, e] : c.keyword) a.keyword.emplace_back(k, eval(*e));
    if (c.star)
      for (Value& v : iterate(eval(*c.star))) a.positional.push_back(std::move(v));
    if (c.star_star) {
      Value kw = eval(*c.star_star);
      if (!kw.is_dict()) throw TemplateError("argument after ** must be a mapping");
      for (const auto& [k, v] : kw.as_dict().entries) {
        if (!k.is_string()) throw TemplateError("keywords must be strings");
        a.keyword.emplace_back(k.as_string(), v);
      }
    }
    return a;
  }

  Value apply(const FilterCall& f, const Value& v) {
    Args args = eval_args(f.args);
    try {
      if (!f.fn) throw TemplateError("unknown filter '" + f.name + "'");
      return f.fn(v, args);
    } catch (const TemplateError& e) {
      fail_at(f.pos, e.what());
    }
  }

  Value eval(const Expr& e) {
    try {
      return std::visit([&](const auto& node) { return value_of(node); }, e.node);
    } catch (const TemplateError& err) {
      fail_at(e.pos, err.what());
    }
  }

  Value value_of(const Expr::Const& c) { return c.value; }
  Value value_of(const Expr::Name& n) {
    if (const Value* v = scope_->find(n.name)) return *v;
    return Value::undefined("'" + n.name + "' is undefined");
  }
  Value value_of(const Expr::Sequence& s) {
    ValueList items;
    for (const auto& e : s.items) items.push_back(eval(*e));
    return Value(std::move(items), s.tuple ? List::Shape::Tuple : List::Shape::List);
  }
  Value value_of(const Expr::DictLit& d) {
    Dict out;
    for (const auto& [k, v] : d.items) {
      Value key = eval(*k);
      out.set(std::move(key), eval(*v));
    }
    return Value(std::move(out));
  }
  Value value_of(const Expr::Attr& a) { return get_attr(eval(*a.object), a.name); }
  Value value_of(const Expr::Item& i) {
    Value obj = eval(*i.object);
    return get_item(obj, eval(*i.index));
  }
  Value value_of(const Expr::Slice& s) {
    Value obj = eval(*s.object);
    auto part = [&](const ExprPtr& e) { return e ? eval(*e) : Value(); };
    Value start = part(s.start), stop = part(s.stop), step = part(s.step);
    return get_slice(obj, start, stop, step);
  }
  Value value_of(const Expr::Call& c) {
    Value callee = eval(*c.callee);
    return call(callee, eval_args(c.args));
  }
  Value value_of(const Expr::Filter& f) { return apply(f.filter, eval(*f.value)); }
  Value value_of(const Expr::Test& t) {
    Value v = eval(*t.value);
    Args args = eval_args(t.args);
    if (!t.fn) throw TemplateError("unknown test '" + t.name + "'");
    return Value(t.fn(v, args) != t.negated);
  }
  Value value_of(const Expr::Unary& u) {
    Value v = eval(*u.operand);
    return u.op == '!' ? Value(!v.truthy()) : unary_op(u.op, v);
  }
  Value value_of(const Expr::Binary& b) {
    Value left = eval(*b.left);
    if (b.op == BinOp::And) return left.truthy() ? eval(*b.right) : left;
    if (b.op == BinOp::Or) return left.truthy() ? left : eval(*b.right);
    return binary_op(b.op, left, eval(*b.right));
  }
  Value value_of(const Expr::Compare& c) {
    Value left = eval(*c.first);
    for (const auto& [op, e] : c.rest) {
      Value right = eval(*e);
      if (!compare(op, left, right)) return Value(false);
      left = std::move(right);
    }
    return Value(true);
  }
  Value value_of(const Expr::Cond& c) {
    if (eval(*c.test).truthy()) return eval(*c.then);
    if (c.otherwise) return eval(*c.otherwise);
    return Value::undefined(
        "the inline if-expression evaluated to false and no else section was defined.");
  }

  ScopePtr scope_;
  std::string* out_ = nullptr;
  int depth_ = 0;
};

Value Macro::call(const Args& args) { return interp.call_macro(*this, args); }

}  // namespace

void charge_steps(uint64_t n) {
  if (!budget) return;
  budget->steps += n;
  if (budget->steps > kMaxRenderSteps)
    throw TemplateError("the template runs too long: more than " + std::to_string(kMaxRenderSteps) +
                        " statements and loop iterations");
}

void charge_bytes(uint64_t n, uint64_t times) {
  if (!budget) return;
  uint64_t total;
  if (__builtin_mul_overflow(n, times, &total) || total > kMaxRenderBytes ||
      (budget->bytes += total) > kMaxRenderBytes)
    fail_too_much_text();
}

void fail_too_much_text() {
  throw TemplateError("the template builds too much text: more than " +
                      std::to_string(kMaxRenderBytes >> 20) + " MiB");
}

std::string render(const Body& body, const nlohmann::ordered_json& context) {
  if (!context.is_object()) fail("chat template context must be a JSON object");
  std::unique_ptr<Interpreter> in;
  try {
    in = std::make_unique<Interpreter>(context);
  } catch (const TemplateError& e) {
    fail("chat template context: ", e.what());
  }
  struct Counting {
    Budget b;
    Counting() { budget = &b; }
    ~Counting() { budget = nullptr; }
  } counting;
  return in->run(body);
}

}  // namespace purelm::jinja

// Recursive descent over the token stream, following the grammar and precedence of Jinja2's
// parser (so `a ~ b + c`, `-x|abs`, `x is y` and `for x in xs if c` group as they do there).
#include <algorithm>
#include <initializer_list>

#include "purelm/tokenizer/jinja/ast.h"

namespace purelm::jinja {
namespace {

constexpr int kMaxDepth = 200;  // nested blocks, and nested expressions

using Names = std::initializer_list<std::string_view>;

template <class Node, class... A>
ExprPtr expr(Pos pos, A&&... a) {
  return ExprPtr(new Expr{pos, Node{std::forward<A>(a)...}});
}

template <class Node>
std::unique_ptr<Stmt> stmt(Pos pos, Node node) {
  return std::unique_ptr<Stmt>(new Stmt{pos, std::move(node)});
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  Body parse_template() {
    Body body = parse_body({});
    // Jinja2 rejects unknown filters and tests at compile time unless they sit in a conditional.
    if (!unknown_.empty()) fail_at(unknown_.front().first, unknown_.front().second);
    return body;
  }

 private:
  // Tokens.
  const Token& cur() const { return t_[i_]; }
  const Token& peek() const { return t_[std::min(i_ + 1, t_.size() - 1)]; }
  const Token& next() {
    const Token& t = t_[i_];
    if (i_ + 1 < t_.size()) ++i_;
    return t;
  }
  bool is_op(std::string_view op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(std::string_view n) const { return cur().type == Tok::Name && cur().text == n; }
  bool is_name_in(Names names) const {
    return cur().type == Tok::Name &&
           std::find(names.begin(), names.end(), cur().text) != names.end();
  }
  bool skip_op(std::string_view op) { return is_op(op) && (next(), true); }
  bool skip_name(std::string_view n) { return is_name(n) && (next(), true); }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::Name:
      case Tok::Op:
        return "'" + t.text + "'";
      case Tok::String:
        return "string";
      case Tok::Int:
        return "integer";
      case Tok::Float:
        return "float";
      case Tok::VarEnd:
        return "end of print statement";
      case Tok::BlockEnd:
        return "end of statement block";
      case Tok::VarBegin:
        return "begin of print statement";
      case Tok::BlockBegin:
        return "begin of statement block";
      case Tok::Data:
        return "template data";
      case Tok::Eof:
        return "end of template";
    }
    return "token";
  }
  [[noreturn]] void unexpected(std::string_view wanted) const {
    fail_at(cur().pos, "expected " + std::string(wanted) + ", got " + describe(cur()));
  }
  void expect_op(std::string_view op) {
    if (!skip_op(op)) unexpected("'" + std::string(op) + "'");
  }
  std::string expect_name() {
    if (cur().type != Tok::Name) unexpected("a name");
    return next().text;
  }
  void expect_block_end() {
    if (cur().type != Tok::BlockEnd) unexpected("end of statement block");
    next();
  }
  // Consumes `{% name %}` whose "{%" parse_body already took.
  void end_tag() {
    next();
    expect_block_end();
  }

  // Statements.
  Body parse_body(Names ends) {
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == Tok::Eof) {
        if (ends.size() == 0) return body;
        std::string want;
        for (auto e : ends) want += (want.empty() ? "'" : " or '") + std::string(e) + "'";
        fail_at(t.pos, "unexpected end of template, expected " + want);
      }
      if (t.type == Tok::Data) {
        body.push_back(stmt(t.pos, Stmt::Text{next().text}));
      } else if (t.type == Tok::VarBegin) {
        next();
        ExprPtr e = parse_tuple(true, {}, false);
        if (cur().type != Tok::VarEnd) unexpected("end of print statement");
        next();
        body.push_back(stmt(t.pos, Stmt::Output{std::move(e)}));
      } else {  // BlockBegin
        next();
        if (is_name_in(ends)) return body;
        body.push_back(parse_statement());
      }
    }
  }

  // Blocks nest no deeper than expressions do: parsing, rendering and destroying them recurse.
  std::unique_ptr<Stmt> parse_statement() {
    if (++block_depth_ > kMaxDepth) fail_at(cur().pos, "blocks nested too deeply");
    std::unique_ptr<Stmt> s = parse_tag();
    --block_depth_;
    return s;
  }

  std::unique_ptr<Stmt> parse_tag() {
    if (cur().type != Tok::Name) unexpected("a tag name");
    Pos pos = cur().pos;
    std::string tag = next().text;
    if (tag == "if") return parse_if(pos);
    if (tag == "for") return parse_for(pos);
    if (tag == "set") return parse_set(pos);
    if (tag == "macro") return parse_macro(pos);
    if (tag == "call") return parse_call_block(pos);
    if (tag == "filter") return parse_filter_block(pos);
    if (tag == "with") return parse_with(pos);
    if (tag == "generation") {  // transformers' assistant-mask extension; renders its body
      expect_block_end();
      Body body = parse_scoped_body({"endgeneration"});
      end_tag();
      return stmt(pos, Stmt::Scope{std::move(body)});
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail_at(pos, "'" + tag + "' outside of a loop");
      expect_block_end();
      if (tag == "break") return stmt(pos, Stmt::Break{});
      return stmt(pos, Stmt::Continue{});
    }
    fail_at(pos, "unknown tag '" + tag + "'");
  }

  // A body with a frame of its own: not conditional, and outside any loop for macros.
  Body parse_scoped_body(Names ends, bool new_function = false) {
    bool soft = soft_;
    int loops = loop_depth_;
    soft_ = false;
    if (new_function) loop_depth_ = 0;
    Body body = parse_body(ends);
    soft_ = soft;
    loop_depth_ = loops;
    return body;
  }

  std::unique_ptr<Stmt> parse_if(Pos pos) {
    Stmt::If node;
    bool soft = soft_;
    soft_ = true;
    do {
      ExprPtr test = parse_tuple(false, {}, false);
      expect_block_end();
      node.branches.emplace_back(std::move(test), parse_body({"elif", "else", "endif"}));
    } while (skip_name("elif"));
    if (skip_name("else")) {
      expect_block_end();
      node.otherwise = parse_body({"endif"});
    }
    end_tag();
    soft_ = soft;
    return stmt(pos, std::move(node));
  }

  std::unique_ptr<Stmt> parse_for(Pos pos) {
    Stmt::For node;
    node.target = parse_target_tuple({"in"});
    if (!skip_name("in")) unexpected("'in'");
    node.iter = parse_tuple(false, {"recursive"}, false);
    bool soft = soft_;
    soft_ = false;
    if (skip_name("if")) node.filter = parse_expression();
    soft_ = soft;
    node.recursive = skip_name("recursive");
    expect_block_end();
    ++loop_depth_;
    node.body = parse_scoped_body({"endfor", "else"});
    --loop_depth_;
    if (skip_name("else")) {
      expect_block_end();
      node.otherwise = parse_scoped_body({"endfor"});
    }
    end_tag();
    return stmt(pos, std::move(node));
  }

  std::unique_ptr<Stmt> parse_set(Pos pos) {
    Target target;
    if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == ".") {
      target.pos = cur().pos;
      target.name = next().text;
      next();
      target.attr = expect_name();
    } else {
      target = parse_target_tuple({});
    }
    if (skip_op("=")) {
      ExprPtr value = parse_tuple(true, {}, false);
      expect_block_end();
      return stmt(pos, Stmt::Set{std::move(target), std::move(value)});
    }
    Stmt::SetBlock node{std::move(target), {}, {}};
    if (is_op("|")) node.filters = parse_filter_chain(false);
    expect_block_end();
    node.body = parse_scoped_body({"endset"});
    end_tag();
    return stmt(pos, std::move(node));
  }

  void parse_signature(MacroDef& def) {
    expect_op("(");
    while (!skip_op(")")) {
      if (!def.params.empty()) expect_op(",");
      def.params.push_back(expect_name());
      if (skip_op("="))
        def.defaults.push_back(parse_expression());
      else if (!def.defaults.empty() && def.defaults.back())
        fail_at(cur().pos, "non-default argument follows default argument");
      else
        def.defaults.emplace_back();
    }
  }

  Body parse_macro_body(MacroDef& def, std::string_view end) {
    macros_.push_back(&def);
    Body body = parse_scoped_body({end}, true);
    macros_.pop_back();
    end_tag();
    return body;
  }

  std::unique_ptr<Stmt> parse_macro(Pos pos) {
    auto def = std::make_unique<MacroDef>();
    def->name = expect_name();
    parse_signature(*def);
    expect_block_end();
    def->body = parse_macro_body(*def, "endmacro");
    return stmt(pos, Stmt::Macro{std::move(def)});
  }

  std::unique_ptr<Stmt> parse_call_block(Pos pos) {
    auto def = std::make_unique<MacroDef>();
    def->name = "caller";
    if (is_op("(")) parse_signature(*def);
    Pos call_pos = cur().pos;
    ExprPtr call = parse_expression();
    if (!std::holds_alternative<Expr::Call>(call->node)) fail_at(call_pos, "expected call");
    expect_block_end();
    def->body = parse_macro_body(*def, "endcall");
    return stmt(pos, Stmt::CallBlock{std::move(def), std::move(call)});
  }

  std::unique_ptr<Stmt> parse_filter_block(Pos pos) {
    Stmt::FilterBlock node;
    node.filters = parse_filter_chain(true);
    expect_block_end();
    node.body = parse_scoped_body({"endfilter"});
    end_tag();
    return stmt(pos, std::move(node));
  }

  std::unique_ptr<Stmt> parse_with(Pos pos) {
    Stmt::With node;
    while (cur().type != Tok::BlockEnd) {
      if (!node.assignments.empty()) expect_op(",");
      Target target = parse_target_tuple({});
      expect_op("=");
      node.assignments.emplace_back(std::move(target), parse_expression());
    }
    expect_block_end();
    node.body = parse_scoped_body({"endwith"});
    end_tag();
    return stmt(pos, std::move(node));
  }

  // Assignment targets: names, or tuples of them (parenthesised or not).
  Target parse_target_tuple(Names extra_end) {
    Target tuple;
    tuple.pos = cur().pos;
    bool is_tuple = false;
    while (true) {
      if (!tuple.items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      tuple.items.push_back(parse_target_primary());
      if (!is_op(",")) break;
      is_tuple = true;
    }
    if (is_tuple) {
      tuple.tuple = true;
      return tuple;
    }
    if (tuple.items.empty()) unexpected("an assignment target");
    return std::move(tuple.items[0]);
  }

  Target parse_target_primary() {
    Pos pos = cur().pos;
    if (skip_op("(")) {
      Target t = parse_target_tuple({});
      expect_op(")");
      return t;
    }
    if (cur().type != Tok::Name || is_name_in({"true", "false", "none", "True", "False", "None"}))
      fail_at(pos, "can't assign to " + describe(cur()));
    Target t;
    t.pos = pos;
    t.name = next().text;
    return t;
  }

  // Expressions, loosest binding first.
  bool is_tuple_end(Names extra_end) const {
    return cur().type == Tok::VarEnd || cur().type == Tok::BlockEnd || is_op(")") ||
           is_name_in(extra_end);
  }

  ExprPtr parse_tuple(bool with_condexpr, Names extra_end, bool explicit_parens) {
    Pos pos = cur().pos;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      items.push_back(parse_expression(with_condexpr));
      if (!is_op(",")) break;
      is_tuple = true;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) unexpected("an expression");
    }
    return expr<Expr::Sequence>(pos, std::move(items), true);
  }

  ExprPtr parse_expression(bool with_condexpr = true) {
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    Pos pos = cur().pos;
    size_t unknown_before = unknown_.size();
    ExprPtr e = parse_or();
    while (skip_name("if")) {
      unknown_.resize(std::min(unknown_.size(), unknown_before));  // the branch is conditional
      bool soft = soft_;
      soft_ = true;
      ExprPtr test = parse_or();
      ExprPtr otherwise = skip_name("else") ? parse_condexpr() : nullptr;
      soft_ = soft;
      e = expr<Expr::Cond>(pos, std::move(test), std::move(e), std::move(otherwise));
    }
    return e;
  }

  ExprPtr parse_or() {
    Pos pos = cur().pos;
    ExprPtr e = parse_and();
    while (skip_name("or")) e = expr<Expr::Binary>(pos, BinOp::Or, std::move(e), parse_and());
    return e;
  }

  ExprPtr parse_and() {
    Pos pos = cur().pos;
    ExprPtr e = parse_not();
    while (skip_name("and")) e = expr<Expr::Binary>(pos, BinOp::And, std::move(e), parse_not());
    return e;
  }

  ExprPtr parse_not() {
    Pos pos = cur().pos;
    if (skip_name("not")) return expr<Expr::Unary>(pos, '!', parse_not());
    return parse_compare();
  }

  ExprPtr parse_compare() {
    Pos pos = cur().pos;
    ExprPtr first = parse_math1();
    std::vector<std::pair<CmpOp, ExprPtr>> rest;
    while (true) {
      static const std::pair<std::string_view, CmpOp> ops[] = {
          {"==", CmpOp::Eq}, {"!=", CmpOp::Ne}, {"<", CmpOp::Lt},
          {"<=", CmpOp::Le}, {">", CmpOp::Gt},  {">=", CmpOp::Ge}};
      auto op =
          std::find_if(std::begin(ops), std::end(ops), [&](auto& o) { return is_op(o.first); });
      if (op != std::end(ops)) {
        next();
        rest.emplace_back(op->second, parse_math1());
      } else if (skip_name("in")) {
        rest.emplace_back(CmpOp::In, parse_math1());
      } else if (is_name("not") && peek().type == Tok::Name && peek().text == "in") {
        next();
        next();
        rest.emplace_back(CmpOp::NotIn, parse_math1());
      } else {
        break;
      }
    }
    if (rest.empty()) return first;
    return expr<Expr::Compare>(pos, std::move(first), std::move(rest));
  }

  template <class Sub>
  ExprPtr parse_binary(Sub sub, std::initializer_list<std::pair<std::string_view, BinOp>> ops) {
    Pos pos = cur().pos;
    ExprPtr e = (this->*sub)();
    while (true) {
      auto op = std::find_if(ops.begin(), ops.end(), [&](auto& o) { return is_op(o.first); });
      if (op == ops.end()) return e;
      next();
      e = expr<Expr::Binary>(pos, op->second, std::move(e), (this->*sub)());
    }
  }
  ExprPtr parse_math1() {
    return parse_binary(&Parser::parse_concat, {{"+", BinOp::Add}, {"-", BinOp::Sub}});
  }
  ExprPtr parse_concat() { return parse_binary(&Parser::parse_math2, {{"~", BinOp::Concat}}); }
  ExprPtr parse_math2() {
    return parse_binary(
        &Parser::parse_pow,
        {{"*", BinOp::Mul}, {"/", BinOp::Div}, {"//", BinOp::FloorDiv}, {"%", BinOp::Mod}});
  }
  ExprPtr parse_pow() { return parse_binary(&Parser::parse_filtered_unary, {{"**", BinOp::Pow}}); }
  ExprPtr parse_filtered_unary() { return parse_unary(true); }

  ExprPtr parse_unary(bool with_filter) {
    if (++depth_ > kMaxDepth) fail_at(cur().pos, "expression nested too deeply");
    Pos pos = cur().pos;
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      char op = next().text[0];
      e = expr<Expr::Unary>(pos, op, parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    --depth_;
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    Pos pos = t.pos;
    switch (t.type) {
      case Tok::Name: {
        std::string name = next().text;
        if (name == "true" || name == "True") return expr<Expr::Const>(pos, Value(true));
        if (name == "false" || name == "False") return expr<Expr::Const>(pos, Value(false));
        if (name == "none" || name == "None") return expr<Expr::Const>(pos, Value());
        for (MacroDef* m : macros_) {
          m->uses_varargs |= name == "varargs";
          m->uses_kwargs |= name == "kwargs";
          m->uses_caller |= name == "caller";
        }
        return expr<Expr::Name>(pos, std::move(name));
      }
      case Tok::String: {
        std::string s;
        while (cur().type == Tok::String) s += next().text;  // adjacent literals concatenate
        return expr<Expr::Const>(pos, Value(std::move(s)));
      }
      case Tok::Int:
        return expr<Expr::Const>(pos, Value(next().int_value));
      case Tok::Float:
        return expr<Expr::Const>(pos, Value(next().float_value));
      default:
        break;
    }
    if (skip_op("(")) {
      ExprPtr e = parse_tuple(true, {}, true);
      expect_op(")");
      return e;
    }
    if (skip_op("[")) {
      std::vector<ExprPtr> items;
      while (!is_op("]")) {
        if (!items.empty()) expect_op(",");
        if (is_op("]")) break;
        items.push_back(parse_expression());
      }
      next();
      return expr<Expr::Sequence>(pos, std::move(items), false);
    }
    if (skip_op("{")) {
      std::vector<std::pair<ExprPtr, ExprPtr>> items;
      while (!is_op("}")) {
        if (!items.empty()) expect_op(",");
        if (is_op("}")) break;
        ExprPtr key = parse_expression();
        expect_op(":");
        items.emplace_back(std::move(key), parse_expression());
      }
      next();
      return expr<Expr::DictLit>(pos, std::move(items));
    }
    fail_at(pos, "unexpected " + describe(t));
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      Pos pos = cur().pos;
      if (skip_op(".")) {
        if (cur().type == Tok::Name) {
          e = expr<Expr::Attr>(pos, std::move(e), next().text);
        } else if (cur().type == Tok::Int) {
          e = expr<Expr::Item>(pos, std::move(e),
                               expr<Expr::Const>(cur().pos, Value(next().int_value)));
        } else {
          unexpected("a name or number");
        }
      } else if (skip_op("[")) {
        e = parse_subscript(pos, std::move(e));
      } else if (is_op("(")) {
        e = expr<Expr::Call>(pos, std::move(e), parse_call_args());
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(Pos pos, ExprPtr object) {
    ExprPtr parts[3];
    int colons = 0;
    while (true) {
      if (is_op(":")) {
        if (++colons > 2) unexpected("']'");
        next();
      } else if (is_op("]")) {
        break;
      } else if (is_op(",")) {
        fail_at(cur().pos, "tuple subscripts are not supported");
      } else {
        if (parts[colons]) unexpected("']'");
        parts[colons] = parse_expression();
      }
    }
    next();
    if (colons == 0) {
      if (!parts[0]) unexpected("an expression");
      return expr<Expr::Item>(pos, std::move(object), std::move(parts[0]));
    }
    return expr<Expr::Slice>(pos, std::move(object), std::move(parts[0]), std::move(parts[1]),
                             std::move(parts[2]));
  }

  CallArgs parse_call_args() {
    expect_op("(");
    CallArgs args;
    while (!is_op(")")) {
      if (!args.positional.empty() || !args.keyword.empty() || args.star || args.star_star) {
        expect_op(",");
        if (is_op(")")) break;
      }
      Pos pos = cur().pos;
      if (skip_op("**")) {
        if (args.star_star) fail_at(pos, "invalid syntax for function call expression");
        args.star_star = parse_expression();
      } else if (skip_op("*")) {
        if (args.star || args.star_star)
          fail_at(pos, "invalid syntax for function call expression");
        args.star = parse_expression();
      } else if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == "=") {
        if (args.star_star) fail_at(pos, "invalid syntax for function call expression");
        std::string key = next().text;
        next();
        args.keyword.emplace_back(std::move(key), parse_expression());
      } else {
        if (!args.keyword.empty() || args.star || args.star_star)
          fail_at(pos, "positional argument follows keyword argument");
        args.positional.push_back(parse_expression());
      }
    }
    next();
    return args;
  }

  std::string parse_dotted_name() {
    std::string name = expect_name();
    while (skip_op(".")) name += "." + expect_name();
    return name;
  }

  void note_unknown(Pos pos, const std::string& what) {
    if (!soft_) unknown_.emplace_back(pos, what);
  }

  // `| f(args) | g ...`; with `inline_first`, the first filter has no pipe ({% filter f %}).
  std::vector<FilterCall> parse_filter_chain(bool inline_first) {
    std::vector<FilterCall> chain;
    while (inline_first || skip_op("|")) {
      inline_first = false;
      Pos pos = cur().pos;
      std::string name = parse_dotted_name();
      FilterFn fn = find_filter(name);
      if (!fn) note_unknown(pos, "unknown filter '" + name + "'");
      CallArgs args = is_op("(") ? parse_call_args() : CallArgs{};
      chain.push_back(FilterCall{std::move(name), fn, std::move(args), pos});
    }
    return chain;
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      Pos pos = cur().pos;
      if (is_op("|")) {
        for (auto& f : parse_filter_chain(false))
          e = expr<Expr::Filter>(f.pos, std::move(e), std::move(f));
      } else if (skip_name("is")) {
        e = parse_test(pos, std::move(e));
      } else if (is_op("(")) {
        e = expr<Expr::Call>(pos, std::move(e), parse_call_args());
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_test(Pos pos, ExprPtr value) {
    bool negated = skip_name("not");
    Pos name_pos = cur().pos;
    std::string name = parse_dotted_name();
    TestFn fn = find_test(name);
    if (!fn) note_unknown(name_pos, "unknown test '" + name + "'");
    CallArgs args;
    Tok ty = cur().type;
    if (is_op("(")) {
      args = parse_call_args();
    } else if ((ty == Tok::Name || ty == Tok::String || ty == Tok::Int || ty == Tok::Float ||
                is_op("[") || is_op("{")) &&
               !is_name_in({"else", "or", "and"})) {
      if (is_name("is")) fail_at(cur().pos, "you cannot chain multiple tests with is");
      args.positional.push_back(parse_postfix(parse_primary()));
    }
    return expr<Expr::Test>(pos, std::move(value), std::move(name), fn, std::move(args), negated);
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int loop_depth_ = 0;
  int depth_ = 0, block_depth_ = 0;
  bool soft_ = false;  // inside an if or inline-if: unknown filters/tests fail only when run
  std::vector<std::pair<Pos, std::string>> unknown_;
  std::vector<MacroDef*> macros_;  // macros being parsed, innermost last
};

}  // namespace

Body parse(std::string_view source) { return Parser(tokenize(source)).parse_template(); }

}  // namespace purelm::jinja

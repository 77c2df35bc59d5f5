// Python semantics of operators, iteration and lookup on template values.
#include <algorithm>
#include <cmath>
#include <limits>

#include "purelm/tokenizer/jinja/runtime.h"
#include "purelm/tokenizer/jinja/text.h"

namespace purelm::jinja {
namespace {

using K = Value::Kind;

[[noreturn]] void unsupported(const char* op, const Value& a, const Value& b) {
  throw TemplateError(std::string("unsupported operand type(s) for ") + op + ": '" + a.type_name() +
                      "' and '" + b.type_name() + "'");
}

bool is_integral(const Value& v) { return v.kind() == K::Bool || v.kind() == K::Int; }

// Python ints are unbounded; ours stop at 64 bits and say so.
void check_overflow(bool overflow) {
  if (overflow) throw TemplateError("integer overflow");
}

Value repeat(const Value& seq, int64_t n) {
  if (n > 0)
    charge_bytes(uint64_t(n), seq.is_string() ? seq.as_string().size()
                                              : seq.as_list().items.size() * sizeof(Value));
  if (seq.is_string()) {
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.as_string();
    return Value(std::move(out));
  }
  ValueList out;
  for (int64_t i = 0; i < n; ++i)
    out.insert(out.end(), seq.as_list().items.begin(), seq.as_list().items.end());
  return Value(std::move(out), seq.as_list().shape);
}

bool is_sequence(const Value& v) {
  return v.is_string() || (v.is_list() && v.as_list().shape <= List::Shape::Tuple);
}

// Python's floor division and modulo: the remainder takes the divisor's sign.
void float_divmod(double x, double y, double& div, double& mod) {
  mod = std::fmod(x, y);
  div = (x - mod) / y;
  if (mod != 0) {
    if ((y < 0) != (mod < 0)) {
      mod += y;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, y);
  }
  if (div != 0) {
    double f = std::floor(div);
    div = div - f > 0.5 ? f + 1.0 : f;
  } else {
    div = std::copysign(0.0, x / y);
  }
}

Value arithmetic(BinOp op, const Value& a, const Value& b) {
  bool ints = is_integral(a) && is_integral(b);
  int64_t x = a.as_int(), y = b.as_int(), r;
  double fx = a.as_float(), fy = b.as_float();
  switch (op) {
    case BinOp::Add:
      if (ints) {
        check_overflow(__builtin_add_overflow(x, y, &r));
        return Value(r);
      }
      return Value(fx + fy);
    case BinOp::Sub:
      if (ints) {
        check_overflow(__builtin_sub_overflow(x, y, &r));
        return Value(r);
      }
      return Value(fx - fy);
    case BinOp::Mul:
      if (ints) {
        check_overflow(__builtin_mul_overflow(x, y, &r));
        return Value(r);
      }
      return Value(fx * fy);
    case BinOp::Div:
      if (fy == 0) throw TemplateError("division by zero");
      return Value(fx / fy);
    case BinOp::FloorDiv:
    case BinOp::Mod: {
      bool div = op == BinOp::FloorDiv;
      if (ints) {
        if (y == 0)
          throw TemplateError(div ? "integer division or modulo by zero"
                                  : "integer modulo by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1)
          throw TemplateError("integer overflow");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) m += y, --q;
        return Value(div ? q : m);
      }
      if (fy == 0) throw TemplateError(div ? "float floor division by zero" : "float modulo");
      double q, m;
      float_divmod(fx, fy, q, m);
      return Value(div ? q : m);
    }
    case BinOp::Pow:
      if (ints && y >= 0) {
        int64_t result = 1, base = x;
        for (int64_t e = y; e > 0; e >>= 1) {
          if (e & 1) check_overflow(__builtin_mul_overflow(result, base, &result));
          if (e > 1) check_overflow(__builtin_mul_overflow(base, base, &base));
        }
        return Value(result);
      }
      if (fx == 0 && fy < 0) throw TemplateError("0.0 cannot be raised to a negative power");
      if (fx < 0 && fy != std::floor(fy))
        throw TemplateError("complex results of ** are not supported");
      if (double r = std::pow(fx, fy); !std::isinf(r) || std::isinf(fx) || std::isinf(fy))
        return Value(r);
      throw TemplateError("(34, 'Numerical result out of range')");
    default:
      break;
  }
  throw TemplateError("bad operator");
}

const char* op_symbol(BinOp op) {
  switch (op) {
    case BinOp::Add:
      return "+";
    case BinOp::Sub:
      return "-";
    case BinOp::Mul:
      return "*";
    case BinOp::Div:
      return "/";
    case BinOp::FloorDiv:
      return "//";
    case BinOp::Mod:
      return "%";
    case BinOp::Pow:
      return "** or pow()";
    default:
      return "?";
  }
}

std::string object_type_repr(const Value& v) {
  return v.is_none() ? "None" : v.type_name() + " object";
}

Value no_attribute(const Value& obj, const std::string& name) {
  return Value::undefined("'" + object_type_repr(obj) + "' has no attribute '" + name + "'");
}

}  // namespace

int64_t to_index(const Value& v) {
  if (!is_integral(v))
    throw TemplateError("'" + v.type_name() + "' object cannot be interpreted as an integer");
  return v.as_int();
}

Value binary_op(BinOp op, const Value& a, const Value& b) {
  if (op == BinOp::Concat) {
    std::string out = a.str();
    std::string right = b.str();
    charge_bytes(out.size() + right.size());
    return Value(out + right);
  }
  if (a.is_undefined()) a.fail_undefined();
  if (b.is_undefined()) b.fail_undefined();
  if (a.is_number() && b.is_number()) return arithmetic(op, a, b);
  if (op == BinOp::Add) {
    if (a.is_markup() || b.is_markup()) {
      if (a.is_string() && b.is_string()) {
        auto safe = [](const Value& v) {
          return v.is_markup() ? v.as_string() : text::html_escape(v.as_string());
        };
        return Value::markup(safe(a) + safe(b));
      }
    }
    if (a.is_string() && b.is_string()) {
      charge_bytes(a.as_string().size() + b.as_string().size());
      return Value(a.as_string() + b.as_string());
    }
    if (a.is_list() && b.is_list() && a.as_list().shape == b.as_list().shape &&
        a.as_list().shape <= List::Shape::Tuple) {
      charge_bytes(a.as_list().items.size() + b.as_list().items.size(), sizeof(Value));
      ValueList items = a.as_list().items;
      items.insert(items.end(), b.as_list().items.begin(), b.as_list().items.end());
      return Value(std::move(items), a.as_list().shape);
    }
    if (is_sequence(a))
      throw TemplateError("can only concatenate " + a.type_name() + " (not \"" + b.type_name() +
                          "\") to " + a.type_name());
  }
  if (op == BinOp::Mul) {
    if (is_sequence(a) && is_integral(b)) return repeat(a, b.as_int());
    if (is_integral(a) && is_sequence(b)) return repeat(b, a.as_int());
  }
  if (op == BinOp::Mod && a.is_string()) {
    if (!a.is_markup()) return Value(percent_format(a.as_string(), b));
    auto escape = [](const Value& v) {
      return v.is_string() && !v.is_markup() ? Value::markup(text::html_escape(v.as_string())) : v;
    };
    Value args = b;
    if (b.is_list() && b.as_list().shape == List::Shape::Tuple) {
      ValueList items;
      for (const auto& x : b.as_list().items) items.push_back(escape(x));
      args = Value(std::move(items), List::Shape::Tuple);
    } else {
      args = escape(b);
    }
    return Value::markup(percent_format(a.as_string(), args));
  }
  unsupported(op_symbol(op), a, b);
}

Value unary_op(char op, const Value& v) {
  if (v.is_undefined()) v.fail_undefined();
  if (!v.is_number())
    throw TemplateError(std::string("bad operand type for unary ") + op + ": '" + v.type_name() +
                        "'");
  if (v.kind() == K::Float) return Value(op == '-' ? -v.as_float() : v.as_float());
  if (op == '-' && v.as_int() == std::numeric_limits<int64_t>::min())
    throw TemplateError("integer overflow");
  return Value(op == '-' ? -v.as_int() : v.as_int());
}

bool compare(CmpOp op, const Value& a, const Value& b) {
  switch (op) {
    case CmpOp::Eq:
      return equal(a, b);
    case CmpOp::Ne:
      return !equal(a, b);
    case CmpOp::Lt:
      return less(a, b);
    case CmpOp::Gt:
      return less(b, a);
    case CmpOp::Le:
      return less(a, b) || equal(a, b);
    case CmpOp::Ge:
      return less(b, a) || equal(a, b);
    case CmpOp::In:
      return contains(b, a);
    case CmpOp::NotIn:
      return !contains(b, a);
  }
  return false;
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case K::Undefined:
      return false;
    case K::String:
      if (!item.is_string())
        throw TemplateError("'in <string>' requires string as left operand, not " +
                            item.type_name());
      return container.as_string().find(item.as_string()) != std::string::npos;
    case K::List:
      for (const auto& x : container.as_list().items)
        if (equal(x, item)) return true;
      return false;
    case K::Dict:
      return container.as_dict().find(item) != nullptr;
    case K::Iterator: {
      Iterator& it = container.as_iterator();
      while (it.pos < it.items.size())
        if (equal(it.items[it.pos++], item)) return true;
      return false;
    }
    default:
      throw TemplateError("argument of type '" + container.type_name() + "' is not iterable");
  }
}

ValueList iterate(const Value& v) {
  switch (v.kind()) {
    case K::Undefined:
      return {};
    case K::String: {
      ValueList chars;
      for (char32_t c : text::decode(v.as_string())) chars.emplace_back(text::encode({&c, 1}));
      return chars;
    }
    case K::List:
      return v.as_list().items;
    case K::Dict: {
      ValueList keys;
      for (const auto& kv : v.as_dict().entries) keys.push_back(kv.first);
      return keys;
    }
    case K::Iterator:
      return v.as_iterator().take();
    default:
      throw TemplateError("'" + v.type_name() + "' object is not iterable");
  }
}

int64_t length(const Value& v) {
  switch (v.kind()) {
    case K::Undefined:
      return 0;
    case K::String:
      return static_cast<int64_t>(text::length(v.as_string()));
    case K::List:
      return static_cast<int64_t>(v.as_list().items.size());
    case K::Dict:
      return static_cast<int64_t>(v.as_dict().entries.size());
    default:
      throw TemplateError("object of type '" + v.type_name() + "' has no len()");
  }
}

Value get_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) obj.fail_undefined();
  if (obj.kind() == K::Object) return obj.as_object().attr(name);
  if (auto method = get_method(obj, name)) return *method;
  if (obj.is_dict())
    if (const Value* v = obj.as_dict().find(Value(name))) return *v;
  return no_attribute(obj, name);
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) obj.fail_undefined();
  if (obj.is_dict()) {
    if (key.kind() != K::List || key.as_list().shape == List::Shape::Tuple)
      if (const Value* v = obj.as_dict().find(key)) return *v;
  } else if (is_sequence(obj) && is_integral(key)) {
    int64_t n = length(obj), i = key.as_int() < 0 ? key.as_int() + n : key.as_int();
    if (i >= 0 && i < n) {
      if (obj.is_list()) return obj.as_list().items[i];
      return Value(text::slice(obj.as_string(), i, i + 1, 1));
    }
  }
  // Python's obj[key] failed: Jinja2 retries string keys as attributes.
  if (key.is_string()) return get_attr(obj, key.as_string());
  return Value::undefined(object_type_repr(obj) + " has no element " + key.repr());
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) obj.fail_undefined();
  auto bound = [](const Value& v) -> std::optional<int64_t> {
    if (v.is_none()) return std::nullopt;
    return to_index(v);
  };
  // Jinja2 slices with Python's obj[a:b:c] directly, so failures raise instead of giving Undefined.
  if (obj.is_dict()) throw TemplateError("unhashable type: 'slice'");
  if (!is_sequence(obj))
    throw TemplateError("'" + obj.type_name() + "' object is not subscriptable");
  for (const Value* v : {&start, &stop, &step})
    if (!v->is_none() && !is_integral(*v))
      throw TemplateError("slice indices must be integers or None or have an __index__ method");
  int64_t st = step.is_none() ? 1 : step.as_int();
  if (obj.is_string()) return Value(text::slice(obj.as_string(), bound(start), bound(stop), st));
  const ValueList& items = obj.as_list().items;
  ValueList out;
  for (int64_t i :
       text::slice_positions(static_cast<int64_t>(items.size()), bound(start), bound(stop), st))
    out.push_back(items[i]);
  return Value(std::move(out), obj.as_list().shape);
}

Value get_path(const Value& obj, const Value& path) {
  if (!path.is_string()) return get_item(obj, path);
  // Jinja2 makes any run of digits an int; one past int64 is past the end of any list.
  constexpr int64_t kPastAny = std::numeric_limits<int64_t>::max();
  Value v = obj;
  for (const std::string& part : text::split(path.as_string(), std::string("."), -1, false)) {
    bool digits = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    v = get_item(v, digits ? Value(text::digits_value(part).value_or(kPastAny)) : Value(part));
  }
  return v;
}

Value call(const Value& callee, const Args& args) {
  if (callee.is_undefined()) callee.fail_undefined();
  if (callee.kind() != K::Object || !callee.as_object().callable())
    throw TemplateError("'" + callee.type_name() + "' object is not callable");
  return callee.as_object().call(args);
}

}  // namespace purelm::jinja

namespace purelm::jinja {

Params::Params(std::string_view fn, const Args& args, std::initializer_list<std::string_view> names,
               size_t required)
    : fn_(fn), names_(names), slots_(names.size(), nullptr) {
  if (args.positional.size() > names_.size())
    throw TemplateError(fn_ + "() takes at most " + std::to_string(names_.size()) +
                        " argument(s) (" + std::to_string(args.positional.size()) + " given)");
  for (size_t i = 0; i < args.positional.size(); ++i) slots_[i] = &args.positional[i];
  for (const auto& [key, value] : args.keyword) {
    auto it = std::find(names_.begin(), names_.end(), key);
    if (it == names_.end())
      throw TemplateError(fn_ + "() got an unexpected keyword argument '" + key + "'");
    size_t i = static_cast<size_t>(it - names_.begin());
    if (slots_[i]) throw TemplateError(fn_ + "() got multiple values for argument '" + key + "'");
    slots_[i] = &value;
  }
  for (size_t i = 0; i < required; ++i)
    if (!slots_[i])
      throw TemplateError(fn_ + "() missing required argument '" + std::string(names_[i]) + "'");
}

int64_t Params::get_int(size_t i, int64_t fallback) const {
  return has(i) ? to_index(*slots_[i]) : fallback;
}

std::optional<std::string> Params::get_string(size_t i) const {
  if (!has(i) || slots_[i]->is_none()) return std::nullopt;
  return slots_[i]->str();
}

}  // namespace purelm::jinja

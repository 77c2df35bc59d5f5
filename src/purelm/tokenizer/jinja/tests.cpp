// Jinja2's built-in tests (`x is defined`, `x is divisibleby 3`, `x is eq y`, ...).
#include <map>

#include "purelm/tokenizer/jinja/runtime.h"
#include "purelm/tokenizer/jinja/text.h"

namespace purelm::jinja {
namespace {

using K = Value::Kind;

const Value& operand(const char* test, const Args& a) {
  Params p(test, a, {"other"}, 1);
  return p[0];  // refers into `a`, not into `p`
}

template <K kind>
bool is_kind(const Value& v, const Args& a) {
  Params("is", a, {});
  return v.kind() == kind;
}

bool t_defined(const Value& v, const Args& a) { return !is_kind<K::Undefined>(v, a); }
bool t_boolean(const Value& v, const Args& a) { return is_kind<K::Bool>(v, a); }
bool t_true(const Value& v, const Args& a) { return is_kind<K::Bool>(v, a) && v.as_bool(); }
bool t_false(const Value& v, const Args& a) { return is_kind<K::Bool>(v, a) && !v.as_bool(); }

bool t_number(const Value& v, const Args& a) {
  Params("number", a, {});
  return v.is_number();
}

// Python's iter() succeeds on these (Undefined iterates as empty).
bool t_iterable(const Value& v, const Args& a) {
  Params("iterable", a, {});
  return v.kind() == K::Undefined || v.is_string() || v.is_list() || v.is_dict() ||
         v.kind() == K::Iterator;
}

// len() and __getitem__: str, list, tuple, dict, and Undefined (which defines both).
bool t_sequence(const Value& v, const Args& a) {
  Params("sequence", a, {});
  return v.kind() == K::Undefined || v.is_string() || v.is_dict() ||
         (v.is_list() && v.as_list().shape <= List::Shape::Tuple);
}

// Undefined defines __call__ (to raise), so Python's callable() accepts it.
bool t_callable(const Value& v, const Args& a) {
  Params("callable", a, {});
  return v.is_undefined() || (v.kind() == K::Object && v.as_object().callable());
}

// `is`: singletons and shared objects by identity; small values by equality.
bool t_sameas(const Value& v, const Args& a) {
  const Value& o = operand("sameas", a);
  if (v.kind() != o.kind()) return false;
  switch (v.kind()) {
    case K::List:
    case K::Dict:
    case K::Iterator:
    case K::Object:
      return v.identity() == o.identity();
    case K::Undefined:
      return false;
    default:
      return equal(v, o);
  }
}

bool t_escaped(const Value& v, const Args& a) {
  Params("escaped", a, {});
  return v.is_markup();
}

bool t_in(const Value& v, const Args& a) {
  Params p("in", a, {"seq"}, 1);
  return contains(p[0], v);
}

template <CmpOp op>
bool t_compare(const Value& v, const Args& a) {
  return compare(op, v, operand("comparison", a));
}

bool t_divisibleby(const Value& v, const Args& a) {
  Params p("divisibleby", a, {"num"}, 1);
  return equal(binary_op(BinOp::Mod, v, p[0]), Value(0));
}

bool t_odd(const Value& v, const Args& a) {
  Params("odd", a, {});
  return equal(binary_op(BinOp::Mod, v, Value(2)), Value(1));
}

bool t_even(const Value& v, const Args& a) {
  Params("even", a, {});
  return equal(binary_op(BinOp::Mod, v, Value(2)), Value(0));
}

bool t_lower(const Value& v, const Args& a) {
  Params("lower", a, {});
  return text::is_cased_as(v.str(), true);
}

bool t_upper(const Value& v, const Args& a) {
  Params("upper", a, {});
  return text::is_cased_as(v.str(), false);
}

bool t_filter(const Value& v, const Args& a) {
  Params("filter", a, {});
  return v.is_string() && find_filter(v.as_string()) != nullptr;
}

bool t_test(const Value& v, const Args& a) {
  Params("test", a, {});
  return v.is_string() && find_test(v.as_string()) != nullptr;
}

const std::map<std::string, TestFn, std::less<>> kTests = {
    {"defined", t_defined},
    {"undefined", is_kind<K::Undefined>},
    {"none", is_kind<K::None>},
    {"boolean", t_boolean},
    {"true", t_true},
    {"false", t_false},
    {"integer", is_kind<K::Int>},
    {"float", is_kind<K::Float>},
    {"number", t_number},
    {"string", is_kind<K::String>},
    {"mapping", is_kind<K::Dict>},
    {"iterable", t_iterable},
    {"sequence", t_sequence},
    {"callable", t_callable},
    {"sameas", t_sameas},
    {"escaped", t_escaped},
    {"in", t_in},
    {"==", t_compare<CmpOp::Eq>},
    {"eq", t_compare<CmpOp::Eq>},
    {"equalto", t_compare<CmpOp::Eq>},
    {"!=", t_compare<CmpOp::Ne>},
    {"ne", t_compare<CmpOp::Ne>},
    {"<", t_compare<CmpOp::Lt>},
    {"lt", t_compare<CmpOp::Lt>},
    {"lessthan", t_compare<CmpOp::Lt>},
    {"<=", t_compare<CmpOp::Le>},
    {"le", t_compare<CmpOp::Le>},
    {">", t_compare<CmpOp::Gt>},
    {"gt", t_compare<CmpOp::Gt>},
    {"greaterthan", t_compare<CmpOp::Gt>},
    {">=", t_compare<CmpOp::Ge>},
    {"ge", t_compare<CmpOp::Ge>},
    {"divisibleby", t_divisibleby},
    {"odd", t_odd},
    {"even", t_even},
    {"lower", t_lower},
    {"upper", t_upper},
    {"filter", t_filter},
    {"test", t_test},
};

}  // namespace

TestFn find_test(const std::string& name) {
  auto it = kTests.find(name);
  return it == kTests.end() ? nullptr : it->second;
}

}  // namespace purelm::jinja

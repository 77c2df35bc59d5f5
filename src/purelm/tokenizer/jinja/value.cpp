#include "purelm/tokenizer/jinja/value.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "purelm/tokenizer/jinja/runtime.h"
#include "purelm/tokenizer/jinja/text.h"

namespace purelm::jinja {

namespace {

int depth_of(const Value& v) {
  return v.is_list() ? v.as_list().depth : v.is_dict() ? v.as_dict().depth : 0;
}

int checked_depth(int inner) {
  if (inner >= kMaxValueDepth)
    throw TemplateError("lists and dicts nested more than " + std::to_string(kMaxValueDepth) +
                        " deep");
  return inner + 1;
}

Value from_json_at(const nlohmann::ordered_json& j, int depth);

}  // namespace

Value::Value(ValueList items, List::Shape shape) : kind_(Kind::List) {
  int inner = 0;
  for (const Value& v : items) inner = std::max(inner, depth_of(v));
  ptr_ = std::make_shared<const List>(List{std::move(items), shape, checked_depth(inner)});
}

Value::Value(Dict d) : kind_(Kind::Dict) {
  int inner = 0;
  for (const auto& [k, v] : d.entries) inner = std::max({inner, depth_of(k), depth_of(v)});
  d.depth = checked_depth(inner);
  ptr_ = std::make_shared<const Dict>(std::move(d));
}

Value Value::undefined(std::string hint) {
  Value v;
  v.kind_ = Kind::Undefined;
  v.str_ = std::move(hint);
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& j) { return from_json_at(j, 1); }

namespace {

// Checks the depth on the way down: a deep document would exhaust the stack before any Value
// constructor saw it.
Value from_json_at(const nlohmann::ordered_json& j, int depth) {
  using T = nlohmann::ordered_json::value_t;
  if (j.is_structured()) checked_depth(depth - 1);
  switch (j.type()) {
    case T::null:
      return Value();
    case T::boolean:
      return Value(j.get<bool>());
    case T::number_integer:
      return Value(j.get<int64_t>());
    case T::number_unsigned: {
      auto u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        throw TemplateError("integer " + std::to_string(u) + " is too large");
      return Value(static_cast<int64_t>(u));
    }
    case T::number_float:
      return Value(j.get<double>());
    case T::string:
      return Value(j.get<std::string>());
    case T::array: {
      ValueList items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json_at(e, depth + 1));
      return Value(std::move(items));
    }
    case T::object: {
      Dict d;
      d.entries.reserve(j.size());
      for (const auto& [k, v] : j.items())
        d.entries.emplace_back(Value(k), from_json_at(v, depth + 1));
      return Value(std::move(d));
    }
    default:
      throw TemplateError("unsupported JSON value in the template context");
  }
}

}  // namespace

Value Value::markup(std::string s) {
  Value v(std::move(s));
  v.markup_ = true;
  return v;
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None:
      return false;
    case Kind::Bool:
    case Kind::Int:
      return int_ != 0;
    case Kind::Float:
      return float_ != 0;
    case Kind::String:
      return !str_.empty();
    case Kind::List:
      return !as_list().items.empty();
    case Kind::Dict:
      return !as_dict().entries.empty();
    case Kind::Iterator:
    case Kind::Object:
      return true;
  }
  return false;
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::None:
      return "NoneType";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "str";
    case Kind::List: {
      static const char* names[] = {"list", "tuple", "dict_items", "dict_keys", "dict_values"};
      return names[static_cast<int>(as_list().shape)];
    }
    case Kind::Dict:
      return "dict";
    case Kind::Iterator:
      return "generator";
    case Kind::Object:
      return as_object().type_name();
  }
  return "object";
}

std::string Value::str() const {
  switch (kind_) {
    case Kind::Undefined:
      return "";
    case Kind::String:
      return str_;
    default:
      return repr();
  }
}

std::string Value::repr() const {
  switch (kind_) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::None:
      return "None";
    case Kind::Bool:
      return int_ ? "True" : "False";
    case Kind::Int:
      return std::to_string(int_);
    case Kind::Float:
      return text::float_repr(float_);
    case Kind::String:
      return text::repr(str_);
    case Kind::List: {
      // A list held many times over ([[0] * 10000] * 10000: 10001 values) has a repr of their
      // product's size (300 MB): each stops at the render's text cap.
      const List& l = as_list();
      std::string out;
      for (size_t i = 0; i < l.items.size(); ++i) {
        out += (i ? ", " : "") + l.items[i].repr();
        if (out.size() > kMaxRenderBytes) fail_too_much_text();
      }
      switch (l.shape) {
        case List::Shape::List:
          return "[" + out + "]";
        case List::Shape::Tuple:
          return "(" + out + (l.items.size() == 1 ? ",)" : ")");
        default:
          return type_name() + "([" + out + "])";
      }
    }
    case Kind::Dict: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : as_dict().entries) {
        out += (first ? "" : ", ") + k.repr() + ": " + v.repr();
        if (out.size() > kMaxRenderBytes) fail_too_much_text();
        first = false;
      }
      return out + "}";
    }
    case Kind::Iterator:
      return "<generator object>";
    case Kind::Object:
      return as_object().repr();
  }
  return "";
}

namespace {

bool hashable(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::List:
      if (v.as_list().shape != List::Shape::Tuple) return false;
      for (const auto& e : v.as_list().items)
        if (!hashable(e)) return false;
      return true;
    case Value::Kind::Dict:
      return false;
    default:
      return true;
  }
}

// Python compares int and float exactly, not through a lossy conversion.
int compare_numbers(const Value& a, const Value& b) {
  if (a.kind() != Value::Kind::Float && b.kind() != Value::Kind::Float)
    return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int();
  double x = a.as_float(), y = b.as_float();
  if (std::isnan(x) || std::isnan(y)) return 2;  // unordered: neither <, == nor >
  if (x != y || (a.kind() == Value::Kind::Float && b.kind() == Value::Kind::Float))
    return x < y ? -1 : x > y;
  // Equal as doubles: an int beyond 2^53 may still differ from the float.
  const Value& i = a.kind() == Value::Kind::Float ? b : a;
  const Value& f = a.kind() == Value::Kind::Float ? a : b;
  double fv = f.as_float();
  if (fv >= 9.2e18 || fv <= -9.2e18) return 0;
  auto fi = static_cast<int64_t>(fv);
  int c = i.as_int() < fi ? -1 : i.as_int() > fi;
  return &i == &a ? c : -c;
}

}  // namespace

const Value* Dict::find(const Value& key) const {
  if (!hashable(key)) throw TemplateError("unhashable type: '" + key.type_name() + "'");
  for (const auto& [k, v] : entries)
    if (equal(k, key)) return &v;
  return nullptr;
}

void Dict::set(Value key, Value value) {
  if (!hashable(key)) throw TemplateError("unhashable type: '" + key.type_name() + "'");
  for (auto& [k, v] : entries)
    if (equal(k, key)) {
      v = std::move(value);
      return;
    }
  entries.emplace_back(std::move(key), std::move(value));
}

ValueList Iterator::take() {
  ValueList rest(items.begin() + static_cast<ptrdiff_t>(pos), items.end());
  pos = items.size();
  return rest;
}

Value Object::attr(const std::string& name) const {
  return Value::undefined("'" + type_name() + " object' has no attribute '" + name + "'");
}

Value Object::call(const Args&) {
  throw TemplateError("'" + type_name() + "' object is not callable");
}

Value make_function(std::string name, Function::Fn fn) {
  return Value(std::make_shared<Function>(std::move(name), std::move(fn)));
}

bool equal(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::Undefined:
    case K::None:
      return true;
    case K::String:
      return a.as_string() == b.as_string();
    case K::List: {
      const List &x = a.as_list(), &y = b.as_list();
      if (x.shape != y.shape || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i)
        if (!equal(x.items[i], y.items[i])) return false;
      return true;
    }
    case K::Dict: {
      const Dict &x = a.as_dict(), &y = b.as_dict();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [k, v] : x.entries) {
        const Value* w = y.find(k);
        if (!w || !equal(v, *w)) return false;
      }
      return true;
    }
    default:
      return a.identity() == b.identity();
  }
}

bool less(const Value& a, const Value& b) {
  if (a.is_undefined()) a.fail_undefined();
  if (b.is_undefined()) b.fail_undefined();
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == -1;
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();  // UTF-8 order
  if (a.is_list() && b.is_list() && a.as_list().shape == b.as_list().shape &&
      a.as_list().shape <= List::Shape::Tuple) {
    const auto &x = a.as_list().items, &y = b.as_list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!equal(x[i], y[i])) return less(x[i], y[i]);
    return x.size() < y.size();
  }
  throw TemplateError("'<' not supported between instances of '" + a.type_name() + "' and '" +
                      b.type_name() + "'");
}

}  // namespace purelm::jinja

// The values a Jinja template computes with, modelled on the Python objects Jinja2 sees when
// transformers renders a chat template: None, bool, int, float, str, list/tuple, dict (insertion
// ordered), generators, Jinja's Undefined, and objects (namespace, loop, macros, functions).
// Lists and dicts are immutable once built, as in transformers' ImmutableSandboxedEnvironment,
// so values share them freely (internal header).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace purelm::jinja {

// An error raised where no source position is at hand (a filter, an operator); the interpreter
// catches it at the node being evaluated and reports it with that node's line and column.
struct TemplateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Lists and dicts nest at most this deep (built by a template or read from the context): printing,
// comparing and freeing them recurse.
constexpr int kMaxValueDepth = 200;

class Value;
using ValueList = std::vector<Value>;

// Arguments of a call: positional, then keyword in source order.
struct Args {
  ValueList positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

struct List {
  // Tuples print with parentheses; dict views (.items(), ...) print as dict_items([...]) and
  // cannot be indexed.
  enum class Shape { List, Tuple, Items, Keys, Values };
  ValueList items;
  Shape shape = Shape::List;
  int depth = 1;  // of the lists and dicts nested in it, itself included (Value's constructor)
};

struct Dict {
  std::vector<std::pair<Value, Value>> entries;
  int depth = 1;
  const Value* find(const Value& key) const;
  void set(Value key, Value value);  // a new key goes last, an existing one keeps its place
};

// A Python generator (what select, map, items, ... return): always truthy, no len(), one pass.
struct Iterator {
  ValueList items;
  size_t pos = 0;
  ValueList take();  // the remaining items; the generator is exhausted afterwards
};

// Anything with attributes or a call operator: namespace(), loop, macros, bound methods.
struct Object {
  virtual ~Object() = default;
  virtual std::string type_name() const = 0;
  virtual std::string repr() const { return "<" + type_name() + " object>"; }
  virtual Value attr(const std::string& name) const;  // undefined when absent
  virtual bool callable() const { return false; }
  virtual Value call(const Args& args);
};

class Value {
 public:
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Iterator, Object };

  Value() : kind_(Kind::None) {}
  Value(std::nullptr_t) : kind_(Kind::None) {}
  template <class T, std::enable_if_t<std::is_same_v<T, bool>, int> = 0>
  Value(T b) : kind_(Kind::Bool), int_(b) {}
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Value(T i) : kind_(Kind::Int), int_(static_cast<int64_t>(i)) {}
  Value(double d) : kind_(Kind::Float), float_(d) {}
  Value(std::string s) : kind_(Kind::String), str_(std::move(s)) {}
  Value(std::string_view s) : Value(std::string(s)) {}
  Value(const char* s) : Value(std::string(s)) {}
  Value(ValueList items, List::Shape shape = List::Shape::List);
  Value(Dict d);
  Value(std::shared_ptr<Iterator> it) : kind_(Kind::Iterator), ptr_(std::move(it)) {}
  Value(std::shared_ptr<Object> obj) : kind_(Kind::Object), ptr_(std::move(obj)) {}

  // Jinja's Undefined; `hint` is the message raised when the value is used.
  static Value undefined(std::string hint);
  // markupsafe.Markup (from |safe and |escape): a str whose + and % escape the other operand.
  static Value markup(std::string s);
  static Value from_json(const nlohmann::ordered_json& j);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_markup() const { return markup_; }
  bool is_int() const { return kind_ == Kind::Int; }  // not bool
  bool is_number() const {                            // bool, int or float, as numbers.Number
    return kind_ == Kind::Bool || kind_ == Kind::Int || kind_ == Kind::Float;
  }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_dict() const { return kind_ == Kind::Dict; }

  bool as_bool() const { return int_ != 0; }
  int64_t as_int() const { return int_; }  // Bool and Int
  double as_float() const { return kind_ == Kind::Float ? float_ : static_cast<double>(int_); }
  const std::string& as_string() const { return str_; }
  const List& as_list() const { return *static_cast<const List*>(ptr_.get()); }
  const Dict& as_dict() const { return *static_cast<const Dict*>(ptr_.get()); }
  Iterator& as_iterator() const { return *static_cast<Iterator*>(const_cast<void*>(ptr_.get())); }
  Object& as_object() const { return *static_cast<Object*>(const_cast<void*>(ptr_.get())); }
  const void* identity() const { return ptr_.get(); }
  const std::string& undefined_hint() const { return str_; }

  [[noreturn]] void fail_undefined() const { throw TemplateError(str_); }
  bool truthy() const;
  std::string str() const;   // Python str(): what {{ }} prints
  std::string repr() const;  // Python repr(): how items print inside a list or dict
  std::string type_name() const;

 private:
  Kind kind_;
  bool markup_ = false;
  int64_t int_ = 0;
  double float_ = 0;
  std::string str_;                  // String, or the hint of Undefined
  std::shared_ptr<const void> ptr_;  // List and Dict are immutable; Iterator and Object are not
};

// Python ==, and < (TypeError across unordered types; Undefined raises).
bool equal(const Value& a, const Value& b);
bool less(const Value& a, const Value& b);

// A callable with no attributes: built-in functions and bound methods.
struct Function : Object {
  using Fn = std::function<Value(const Args&)>;
  Function(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::string type_name() const override { return "function"; }
  std::string repr() const override { return "<function " + name_ + ">"; }
  bool callable() const override { return true; }
  Value call(const Args& args) override { return fn_(args); }

 private:
  std::string name_;
  Fn fn_;
};

Value make_function(std::string name, Function::Fn fn);

}  // namespace purelm::jinja

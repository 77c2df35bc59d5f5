// Python's object protocol as Jinja2 uses it under transformers' sandbox: operators, attribute
// and item lookup, iteration, and the methods of str, dict and list. Shared by the interpreter
// and the filters; errors are TemplateErrors (internal header).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "purelm/tokenizer/jinja/ast.h"
#include "purelm/tokenizer/jinja/value.h"

namespace purelm::jinja {

// Binds call arguments to a built-in's named parameters: positionally, then by keyword.
class Params {
 public:
  Params(std::string_view fn, const Args& args, std::initializer_list<std::string_view> names,
         size_t required = 0);
  bool has(size_t i) const { return slots_[i] != nullptr; }
  const Value& operator[](size_t i) const { return *slots_[i]; }
  Value get(size_t i, Value fallback) const { return has(i) ? *slots_[i] : std::move(fallback); }
  int64_t get_int(size_t i, int64_t fallback) const;
  bool get_bool(size_t i, bool fallback) const { return has(i) ? slots_[i]->truthy() : fallback; }
  std::optional<std::string> get_string(size_t i) const;  // unset when absent or None

 private:
  std::string fn_;
  std::vector<std::string_view> names_;
  std::vector<const Value*> slots_;
};

// The work one render may do, since a downloaded chat template is untrusted code: statements
// and loop iterations (steps), and bytes of text and lists built by output, ~, + and *
// (a doubling string reaches any size in 30 steps). Past either, the render fails with a
// TemplateError. Outside a render nothing is counted.
constexpr uint64_t kMaxRenderSteps = 1'000'000;
constexpr uint64_t kMaxRenderBytes = uint64_t(64) << 20;
void charge_steps(uint64_t n);
void charge_bytes(uint64_t n, uint64_t times = 1);  // n * times, overflow included
[[noreturn]] void fail_too_much_text();             // the error past kMaxRenderBytes

// An int argument (bool counts, as in Python); TypeError otherwise.
int64_t to_index(const Value& v);

Value binary_op(BinOp op, const Value& a, const Value& b);  // arithmetic and ~
Value unary_op(char op, const Value& v);                    // '-' or '+'
bool compare(CmpOp op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);  // `item in container`

ValueList iterate(const Value& v);  // iter(v): chars of a str, keys of a dict, ...
int64_t length(const Value& v);     // len(v)

// obj.name prefers attributes (methods) to keys; obj[key] prefers keys. Missing gives
// Undefined, except on an Undefined object, which raises.
Value get_attr(const Value& obj, const std::string& name);
Value get_item(const Value& obj, const Value& key);
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
// environment.getitem along "a.b.0" paths, as filters' attribute= arguments use.
Value get_path(const Value& obj, const Value& path);

// A bound method of a str, dict or list; unset when the type has no such method, and an
// Undefined that raises when used if the sandbox forbids it (methods that mutate, like
// list.append).
std::optional<Value> get_method(const Value& self, const std::string& name);

Value call(const Value& callee, const Args& args);

// printf-style `fmt % args` and str.format.
std::string percent_format(const std::string& fmt, const Value& args);
std::string str_format(const std::string& fmt, const Args& args);

struct JsonOptions {
  std::optional<std::string> indent;  // unset: one line
  std::string item_sep = ", ", key_sep = ": ";
  bool sort_keys = false, ensure_ascii = false;
};
std::string to_json(const Value& v, const JsonOptions& options);  // Python's json.dumps

// Jinja2's namespace(): the one object whose attributes templates assign (set ns.x = ...).
struct Namespace : Object {
  Dict attrs;
  std::string type_name() const override { return "Namespace"; }
  std::string repr() const override { return "<Namespace " + Value(attrs).repr() + ">"; }
  Value attr(const std::string& name) const override;
};

// The global functions: Jinja2's range, dict, namespace, joiner, cycler, and transformers'
// raise_exception and strftime_now.
std::vector<std::pair<std::string, Value>> global_functions();

}  // namespace purelm::jinja

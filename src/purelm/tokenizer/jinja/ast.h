// The syntax tree of a parsed template: expressions and statements, each with its source
// position for error messages (internal header).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "purelm/tokenizer/jinja/lexer.h"
#include "purelm/tokenizer/jinja/value.h"

namespace purelm::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using Body = std::vector<std::unique_ptr<Stmt>>;

// Built-in filters and tests, resolved while parsing (null when unknown: Jinja2 then fails at
// run time, and only if the expression is reached).
using FilterFn = Value (*)(const Value& value, const Args& args);
using TestFn = bool (*)(const Value& value, const Args& args);

struct CallArgs {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
  ExprPtr star, star_star;  // f(*iterable, **mapping), appended to the others
};

struct FilterCall {
  std::string name;
  FilterFn fn;
  CallArgs args;
  Pos pos;
};

enum class BinOp { Add, Sub, Mul, Div, FloorDiv, Mod, Pow, Concat, And, Or };
enum class CmpOp { Eq, Ne, Lt, Le, Gt, Ge, In, NotIn };

struct Expr {
  struct Const {
    Value value;
  };
  struct Name {
    std::string name;
  };
  struct Sequence {  // [a, b] or (a, b)
    std::vector<ExprPtr> items;
    bool tuple;
  };
  struct DictLit {
    std::vector<std::pair<ExprPtr, ExprPtr>> items;
  };
  struct Attr {  // x.name
    ExprPtr object;
    std::string name;
  };
  struct Item {  // x[index]
    ExprPtr object, index;
  };
  struct Slice {  // x[start:stop:step], each part optional
    ExprPtr object, start, stop, step;
  };
  struct Call {
    ExprPtr callee;
    CallArgs args;
  };
  struct Filter {
    ExprPtr value;
    FilterCall filter;
  };
  struct Test {
    ExprPtr value;
    std::string name;
    TestFn fn;
    CallArgs args;
    bool negated;
  };
  struct Unary {  // '-', '+', or '!' for `not`
    char op;
    ExprPtr operand;
  };
  struct Binary {
    BinOp op;
    ExprPtr left, right;
  };
  struct Compare {  // a < b < c compares pairwise, as in Python
    ExprPtr first;
    std::vector<std::pair<CmpOp, ExprPtr>> rest;
  };
  struct Cond {  // then if test else otherwise; `otherwise` may be absent
    ExprPtr test, then, otherwise;
  };

  Pos pos;
  std::variant<Const, Name, Sequence, DictLit, Attr, Item, Slice, Call, Filter, Test, Unary, Binary,
               Compare, Cond>
      node;
};

// What `set`, `for` and `with` assign to: a name, a tuple of targets, or namespace.attr.
struct Target {
  std::string name;
  std::string attr;  // set: ns.attr
  std::vector<Target> items;
  bool tuple = false;
  Pos pos;
};

struct MacroDef {
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // parallel to params, null where there is no default
  Body body;
  // Whether the body mentions these names: Jinja2 accepts extra arguments only then.
  bool uses_varargs = false, uses_kwargs = false, uses_caller = false;
};

struct Stmt {
  struct Text {
    std::string text;
  };
  struct Output {
    ExprPtr expr;
  };
  struct If {
    std::vector<std::pair<ExprPtr, Body>> branches;
    Body otherwise;
  };
  struct For {
    Target target;
    ExprPtr iter, filter;
    bool recursive;
    Body body, otherwise;
  };
  struct Set {
    Target target;
    ExprPtr value;
  };
  struct SetBlock {  // {% set x | filters %}body{% endset %}
    Target target;
    std::vector<FilterCall> filters;
    Body body;
  };
  struct Macro {
    std::unique_ptr<MacroDef> def;
  };
  struct CallBlock {  // {% call(params) macro(args) %}caller body{% endcall %}
    std::unique_ptr<MacroDef> caller;
    ExprPtr call;
  };
  struct FilterBlock {
    std::vector<FilterCall> filters;
    Body body;
  };
  struct With {
    std::vector<std::pair<Target, ExprPtr>> assignments;
    Body body;
  };
  struct Scope {  // transformers' {% generation %}: renders its body in a scope of its own
    Body body;
  };
  struct Break {};
  struct Continue {};

  Pos pos;
  std::variant<Text, Output, If, For, Set, SetBlock, Macro, CallBlock, FilterBlock, With, Scope,
               Break, Continue>
      node;
};

// Filters and tests by name (builtins); null when there is none.
FilterFn find_filter(const std::string& name);
TestFn find_test(const std::string& name);

Body parse(std::string_view source);

}  // namespace purelm::jinja

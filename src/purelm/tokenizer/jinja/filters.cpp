// Jinja2's built-in filters (plus transformers' tojson), with Jinja2 3.1's argument names,
// defaults and results. Those that return generators in Jinja2 (select, map, unique, items,
// reverse of a list, ...) return an Iterator, so truthiness, len() and one-pass iteration agree.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "purelm/tokenizer/jinja/runtime.h"
#include "purelm/tokenizer/jinja/text.h"

namespace purelm::jinja {
namespace {

Value generator(ValueList items) {
  auto it = std::make_shared<Iterator>();
  it->items = std::move(items);
  return Value(std::move(it));
}

Value ignore_case(Value v) { return v.is_string() ? Value(text::lower(v.as_string())) : v; }

// Python's float(x) for the float and int filters; unset when Python would raise.
std::optional<double> parse_float(const Value& v) {
  if (v.is_undefined()) v.fail_undefined();
  if (v.is_number()) return v.as_float();
  if (!v.is_string()) return std::nullopt;
  std::string s = text::strip(v.as_string(), std::nullopt, true, true), clean;
  for (size_t i = 0; i < s.size(); ++i) {  // underscores only between digits
    if (s[i] == '_' && i > 0 && i + 1 < s.size() &&
        std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 1])))
      continue;
    clean += s[i];
  }
  std::string lower = text::lower(clean);
  size_t sign = !lower.empty() && (lower[0] == '+' || lower[0] == '-') ? 1 : 0;
  std::string_view body = std::string_view(lower).substr(sign);
  if (body == "inf" || body == "infinity" || body == "nan")
    return std::strtod(lower.c_str(), nullptr);
  if (body.empty() || body.find_first_not_of("0123456789.e+-") != std::string_view::npos ||
      body.find_first_of("0123456789") == std::string_view::npos)
    return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(clean.c_str(), &end);
  if (*end != '\0') return std::nullopt;
  return d;
}

// Python's int(str, base); unset when it would raise ValueError.
std::optional<int64_t> parse_int(const std::string& str, int64_t base) {
  std::string s = text::strip(str, std::nullopt, true, true);
  bool negative = !s.empty() && s[0] == '-';
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.erase(0, 1);
  if (s.size() > 2 && s[0] == '0') {
    char p = static_cast<char>(s[1] | 0x20);
    int64_t prefixed = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefixed && (base == prefixed || base == 0)) s.erase(0, 2), base = prefixed;
  }
  if (base == 0) base = 10;
  std::string digits;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_' && i > 0 && i + 1 < s.size() && s[i + 1] != '_') continue;
    digits += s[i];
  }
  if (digits.empty() || base < 2 || base > 36) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(digits.c_str(), &end, static_cast<int>(base));
  if (*end != '\0' || errno == ERANGE || digits[0] == '-' || digits[0] == '+') return std::nullopt;
  return negative ? -v : v;
}

Value f_abs(const Value& v, const Args& a) {
  Params("abs", a, {});
  if (v.is_undefined()) v.fail_undefined();
  if (!v.is_number()) throw TemplateError("bad operand type for abs(): '" + v.type_name() + "'");
  if (v.kind() == Value::Kind::Float) return Value(std::fabs(v.as_float()));
  return v.as_int() < 0 ? unary_op('-', v) : Value(v.as_int());
}

// Python's getattr only: unlike obj.name, no fallback to the dict's keys.
Value f_attr(const Value& v, const Args& a) {
  Params p("attr", a, {"name"}, 1);
  std::string name = p[0].str();
  if (v.is_undefined()) v.fail_undefined();
  if (v.kind() == Value::Kind::Object) return v.as_object().attr(name);
  if (auto method = get_method(v, name)) return *method;
  return Value::undefined("'" + v.type_name() + " object' has no attribute '" + name + "'");
}

Value f_batch(const Value& v, const Args& a) {
  Params p("batch", a, {"linecount", "fill_with"}, 1);
  int64_t n = to_index(p[0]);
  if (n <= 0) throw TemplateError("batch size must be positive");
  ValueList batches, cur;
  for (Value& item : iterate(v)) {
    if (static_cast<int64_t>(cur.size()) == n) batches.emplace_back(std::move(cur)), cur.clear();
    cur.push_back(std::move(item));
  }
  if (!cur.empty()) {
    if (p.has(1) && !p[1].is_none())
      while (static_cast<int64_t>(cur.size()) < n) cur.push_back(p[1]);
    batches.emplace_back(std::move(cur));
  }
  return generator(std::move(batches));
}

Value f_capitalize(const Value& v, const Args& a) {
  Params("capitalize", a, {});
  return Value(text::capitalize(v.str()));
}

Value f_center(const Value& v, const Args& a) {
  Params p("center", a, {"width"});
  return Value(text::pad(v.str(), p.get_int(0, 80), ' ', '^'));
}

Value f_length(const Value& v, const Args& a) {
  Params("length", a, {});
  return Value(length(v));
}

Value f_default(const Value& v, const Args& a) {
  Params p("default", a, {"default_value", "boolean"});
  if (v.is_undefined() || (p.get_bool(1, false) && !v.truthy())) return p.get(0, Value(""));
  return v;
}

// Sorts stably by key, as Python's sorted(); `reverse` keeps equal keys in their order.
ValueList sorted_by(ValueList items, const std::function<Value(const Value&)>& key, bool reverse) {
  std::vector<std::pair<Value, Value>> keyed;
  for (Value& item : items) keyed.emplace_back(key(item), std::move(item));
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return reverse ? less(y.first, x.first) : less(x.first, y.first);
  });
  ValueList out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return out;
}

Value f_dictsort(const Value& v, const Args& a) {
  Params p("dictsort", a, {"case_sensitive", "by", "reverse"});
  if (!v.is_dict()) throw TemplateError("dictsort expects a mapping, not " + v.type_name());
  std::string by = p.has(1) ? p[1].str() : "key";
  if (by != "key" && by != "value")
    throw TemplateError("You can only sort by either \"key\" or \"value\"");
  bool case_sensitive = p.get_bool(0, false);
  ValueList items;
  for (const auto& [k, val] : v.as_dict().entries)
    items.emplace_back(ValueList{k, val}, List::Shape::Tuple);
  auto key = [&](const Value& item) {
    const Value& x = item.as_list().items[by == "key" ? 0 : 1];
    return case_sensitive ? x : ignore_case(x);
  };
  return Value(sorted_by(std::move(items), key, p.get_bool(2, false)));
}

Value f_escape(const Value& v, const Args& a) {
  Params("escape", a, {});
  return v.is_markup() ? v : Value::markup(text::html_escape(v.str()));
}

Value f_forceescape(const Value& v, const Args& a) {
  Params("forceescape", a, {});
  return Value::markup(text::html_escape(v.str()));
}

Value f_first(const Value& v, const Args& a) {
  Params("first", a, {});
  if (v.kind() == Value::Kind::Iterator) {
    Iterator& it = v.as_iterator();
    if (it.pos < it.items.size()) return it.items[it.pos++];
  } else if (ValueList items = iterate(v); !items.empty()) {
    return items.front();
  }
  return Value::undefined("No first item, sequence was empty.");
}

Value f_last(const Value& v, const Args& a) {
  Params("last", a, {});
  if (v.kind() == Value::Kind::Iterator)
    throw TemplateError("'generator' object is not reversible");
  ValueList items = iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_float(const Value& v, const Args& a) {
  Params p("float", a, {"default"});
  if (auto d = parse_float(v)) return Value(*d);
  return p.get(0, Value(0.0));
}

Value f_int(const Value& v, const Args& a) {
  Params p("int", a, {"default", "base"});
  if (v.is_undefined()) v.fail_undefined();
  if (v.is_string())
    if (auto i = parse_int(v.as_string(), p.get_int(1, 10))) return Value(*i);
  if (auto d = parse_float(v)) {
    if (std::isinf(*d)) throw TemplateError("cannot convert float infinity to integer");
    if (!std::isnan(*d) && std::fabs(*d) < 9.2e18) return Value(static_cast<int64_t>(*d));
  }
  return p.get(0, Value(0));
}

Value f_format(const Value& v, const Args& a) {
  if (!a.positional.empty() && !a.keyword.empty())
    throw TemplateError("can't handle positional and keyword arguments at the same time");
  if (!a.keyword.empty()) {
    Dict d;
    for (const auto& [k, val] : a.keyword) d.set(Value(k), val);
    return Value(percent_format(v.str(), Value(std::move(d))));
  }
  return Value(percent_format(v.str(), Value(a.positional, List::Shape::Tuple)));
}

Value f_indent(const Value& v, const Args& a) {
  Params p("indent", a, {"width", "first", "blank"});
  if (!v.is_string()) binary_op(BinOp::Add, v, Value("\n"));  // raises as Jinja2's `s += "\n"`
  std::string indentation =
      p.has(0) && p[0].is_string() ? p[0].as_string() : std::string(p.get_int(0, 4), ' ');
  std::vector<std::string> lines = text::splitlines(v.str() + "\n", false);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += "\n";
    bool indent = i > 0 && (p.get_bool(2, false) || !lines[i].empty());
    out += (indent ? indentation : "") + lines[i];
  }
  return Value(p.get_bool(1, false) ? indentation + out : out);
}

Value f_items(const Value& v, const Args& a) {
  Params("items", a, {});
  if (v.is_undefined()) return generator({});
  if (!v.is_dict()) throw TemplateError("Can only get item pairs from a mapping.");
  ValueList items;
  for (const auto& [k, val] : v.as_dict().entries)
    items.emplace_back(ValueList{k, val}, List::Shape::Tuple);
  return generator(std::move(items));
}

Value f_join(const Value& v, const Args& a) {
  Params p("join", a, {"d", "attribute"});
  std::string sep = p.has(0) ? p[0].str() : "", out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    out += (first ? "" : sep) + (p.has(1) && !p[1].is_none() ? get_path(item, p[1]) : item).str();
    first = false;
  }
  return Value(std::move(out));
}

Value f_list(const Value& v, const Args& a) {
  Params("list", a, {});
  return Value(iterate(v));
}

Value f_lower(const Value& v, const Args& a) {
  Params("lower", a, {});
  return Value(text::lower(v.str()));
}

Value f_upper(const Value& v, const Args& a) {
  Params("upper", a, {});
  return Value(text::upper(v.str()));
}

Value apply_filter(const std::string& name, const Value& v, const Args& args) {
  FilterFn fn = find_filter(name);
  if (!fn) throw TemplateError("No filter named '" + name + "'.");
  return fn(v, args);
}

Value f_map(const Value& v, const Args& a) {
  ValueList out;
  if (!v.truthy()) return generator({});  // Jinja2 checks `if value:` before iterating
  if (a.positional.empty()) {
    Params p("map", a, {"attribute", "default"}, 1);
    for (const Value& item : iterate(v)) {
      Value x = get_path(item, p[0]);
      out.push_back(x.is_undefined() && p.has(1) && !p[1].is_none() ? p[1] : x);
    }
  } else {
    Args rest{ValueList(a.positional.begin() + 1, a.positional.end()), a.keyword};
    for (const Value& item : iterate(v))
      out.push_back(apply_filter(a.positional[0].str(), item, rest));
  }
  return generator(std::move(out));
}

Value min_max(const Value& v, const Args& a, bool max) {
  Params p(max ? "max" : "min", a, {"case_sensitive", "attribute"});
  ValueList items = iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  auto key = [&](const Value& item) {
    Value k = p.has(1) && !p[1].is_none() ? get_path(item, p[1]) : item;
    return p.get_bool(0, false) ? k : ignore_case(k);
  };
  size_t best = 0;
  Value best_key = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    if (max ? less(best_key, k) : less(k, best_key)) best = i, best_key = k;
  }
  return items[best];
}
Value f_max(const Value& v, const Args& a) { return min_max(v, a, true); }
Value f_min(const Value& v, const Args& a) { return min_max(v, a, false); }

// select/reject/selectattr/rejectattr: keep items whose (attribute's) test result is `keep`.
Value select(const Value& v, const Args& a, bool by_attr, bool keep) {
  size_t off = by_attr ? 1 : 0;
  if (by_attr && a.positional.empty()) throw TemplateError("Missing parameter for attribute name");
  Args test_args{
      ValueList(a.positional.begin() + std::min(a.positional.size(), off + 1), a.positional.end()),
      a.keyword};
  TestFn test = nullptr;
  if (a.positional.size() > off) {
    std::string name = a.positional[off].str();
    test = find_test(name);
    if (!test) throw TemplateError("No test named '" + name + "'.");
  }
  ValueList out;
  if (!v.truthy()) return generator({});
  for (Value& item : iterate(v)) {
    Value x = by_attr ? get_path(item, a.positional[0]) : item;
    if ((test ? test(x, test_args) : x.truthy()) == keep) out.push_back(std::move(item));
  }
  return generator(std::move(out));
}
Value f_select(const Value& v, const Args& a) { return select(v, a, false, true); }
Value f_reject(const Value& v, const Args& a) { return select(v, a, false, false); }
Value f_selectattr(const Value& v, const Args& a) { return select(v, a, true, true); }
Value f_rejectattr(const Value& v, const Args& a) { return select(v, a, true, false); }

Value f_replace(const Value& v, const Args& a) {
  Params p("replace", a, {"old", "new", "count"}, 2);
  int64_t count = p.has(2) && !p[2].is_none() ? to_index(p[2]) : -1;
  return Value(text::replace(v.str(), p[0].str(), p[1].str(), count));
}

Value f_reverse(const Value& v, const Args& a) {
  Params("reverse", a, {});
  if (v.is_string()) return Value(text::slice(v.as_string(), std::nullopt, std::nullopt, -1));
  ValueList items = iterate(v);
  std::reverse(items.begin(), items.end());
  // reversed() of a list or dict is an iterator; a generator becomes a reversed list.
  if (v.kind() == Value::Kind::Iterator) return Value(std::move(items));
  return generator(std::move(items));
}

// Python's round(int, ndigits): an int, to a multiple of 10^-ndigits, half to even.
int64_t round_int(int64_t x, int64_t ndigits) {
  if (ndigits >= 0) return x;
  if (ndigits < -18) return 0;
  int64_t m = 1;
  for (int64_t i = 0; i < -ndigits; ++i) m *= 10;
  int64_t q = x / m, r = x % m;
  if (r < 0) r += m, --q;  // floor division
  if (2 * r > m || (2 * r == m && q % 2 != 0)) ++q;
  int64_t out;
  if (__builtin_mul_overflow(q, m, &out)) throw TemplateError("integer overflow");
  return out;
}

Value f_round(const Value& v, const Args& a) {
  Params p("round", a, {"precision", "method"});
  int64_t precision = p.get_int(0, 0);
  std::string method = p.has(1) ? p[1].str() : "common";
  if (method != "common" && method != "ceil" && method != "floor")
    throw TemplateError("method must be common, ceil or floor");
  if (v.is_undefined()) v.fail_undefined();
  if (!v.is_number())
    throw TemplateError("type " + v.type_name() + " doesn't define __round__ method");
  if (method == "common") {
    if (v.kind() != Value::Kind::Float) return Value(round_int(v.as_int(), precision));
    double x = v.as_float(), scale = std::pow(10.0, static_cast<double>(-precision));
    if (!std::isfinite(x)) return v;
    if (precision < 0) {  // Python rounds to tens, hundreds, ... half to even
      double q = x / scale, r = std::nearbyint(q);
      return Value(r * scale);
    }
    // printf rounds the exact binary value half to even, as Python's round does.
    std::string s(
        static_cast<size_t>(std::snprintf(nullptr, 0, "%.*f", static_cast<int>(precision), x)),
        '\0');
    std::snprintf(s.data(), s.size() + 1, "%.*f", static_cast<int>(precision), x);
    return Value(std::strtod(s.c_str(), nullptr));
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double r = method == "ceil" ? std::ceil(v.as_float() * scale) : std::floor(v.as_float() * scale);
  return Value(r / scale);
}

Value f_safe(const Value& v, const Args& a) {
  Params("safe", a, {});
  return Value::markup(v.str());
}

Value f_slice(const Value& v, const Args& a) {
  Params p("slice", a, {"slices", "fill_with"}, 1);
  ValueList seq = iterate(v), out;
  int64_t slices = to_index(p[0]), n = static_cast<int64_t>(seq.size());
  if (slices <= 0) throw TemplateError("slice count must be positive");
  int64_t per = n / slices, extra = n % slices, offset = 0;
  for (int64_t k = 0; k < slices; ++k) {
    int64_t start = offset + k * per;
    if (k < extra) ++offset;
    int64_t end = offset + (k + 1) * per;
    ValueList part(seq.begin() + start, seq.begin() + end);
    if (p.has(1) && !p[1].is_none() && k >= extra) part.push_back(p[1]);
    out.emplace_back(std::move(part));
  }
  return generator(std::move(out));
}

Value f_sort(const Value& v, const Args& a) {
  Params p("sort", a, {"reverse", "case_sensitive", "attribute"});
  bool case_sensitive = p.get_bool(1, false);
  std::vector<Value> attrs;
  if (p.has(2) && p[2].is_string())
    for (auto& part : text::split(p[2].as_string(), std::string(","), -1, false))
      attrs.emplace_back(part);
  else if (p.has(2) && !p[2].is_none())
    attrs.push_back(p[2]);
  auto key = [&](const Value& item) {
    ValueList keys;
    if (attrs.empty()) keys.push_back(case_sensitive ? item : ignore_case(item));
    for (const Value& attr : attrs) {
      Value k = get_path(item, attr);
      keys.push_back(case_sensitive ? k : ignore_case(k));
    }
    return Value(std::move(keys));
  };
  return Value(sorted_by(iterate(v), key, p.get_bool(0, false)));
}

Value f_string(const Value& v, const Args& a) {
  Params("string", a, {});
  return v.is_markup() ? v : Value(v.str());
}

Value f_sum(const Value& v, const Args& a) {
  Params p("sum", a, {"attribute", "start"});
  Value total = p.get(1, Value(0));
  for (const Value& item : iterate(v))
    total = binary_op(BinOp::Add, total, p.has(0) && !p[0].is_none() ? get_path(item, p[0]) : item);
  return total;
}

// Jinja's title: words start after runs of whitespace, '-', '(', '{', '[' or '<'.
Value f_title(const Value& v, const Args& a) {
  Params("title", a, {});
  std::u32string u = text::decode(v.str());
  std::string out;
  bool word_start = true;
  for (char32_t c : u) {
    bool sep = text::is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    std::string ch = text::encode({&c, 1});
    out += sep ? ch : word_start ? text::upper(ch) : text::lower(ch);
    word_start = sep;
  }
  return Value(std::move(out));
}

// transformers' override: json.dumps(x, ensure_ascii=False, indent=None, separators=None,
// sort_keys=False), without Jinja2's HTML escaping.
Value f_tojson(const Value& v, const Args& a) {
  Params p("tojson", a, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions o;
  o.ensure_ascii = p.get_bool(0, false);
  if (p.has(1) && !p[1].is_none())
    o.indent = p[1].is_string() ? p[1].as_string()
                                : std::string(std::max<int64_t>(to_index(p[1]), 0), ' ');
  if (o.indent) o.item_sep = ",";
  if (p.has(2) && !p[2].is_none()) {
    ValueList seps = iterate(p[2]);
    if (seps.size() != 2 || !seps[0].is_string() || !seps[1].is_string())
      throw TemplateError("separators must be a pair of strings");
    o.item_sep = seps[0].as_string();
    o.key_sep = seps[1].as_string();
  }
  o.sort_keys = p.get_bool(3, false);
  return Value(to_json(v, o));
}

Value f_trim(const Value& v, const Args& a) {
  Params p("trim", a, {"chars"});
  return Value(text::strip(v.str(), p.get_string(0), true, true));
}

Value f_truncate(const Value& v, const Args& a) {
  Params p("truncate", a, {"length", "killwords", "end", "leeway"});
  std::string end = p.has(2) ? p[2].str() : "...";
  int64_t len = p.get_int(0, 255), leeway = p.has(3) && !p[3].is_none() ? to_index(p[3]) : 5;
  auto end_len = static_cast<int64_t>(text::length(end));
  if (len < end_len) throw TemplateError("expected length >= " + std::to_string(end_len));
  if (length(v) <= len + leeway) return v;
  if (!v.is_string())
    throw TemplateError("'" + v.type_name() + "' object has no attribute 'rsplit'");
  const std::string& s = v.as_string();
  std::string head = text::slice(s, 0, len - end_len, 1);
  if (p.get_bool(1, false)) return Value(head + end);
  return Value(text::split(head, std::string(" "), 1, true).front() + end);
}

// Python's hash() refuses lists, dicts and their views (and tuples holding them), so unique()'s
// set of seen items does.
void check_hashable(const Value& v) {
  if (v.is_dict() || (v.is_list() && v.as_list().shape != List::Shape::Tuple))
    throw TemplateError("unhashable type: '" + v.type_name() + "'");
  if (v.is_list())
    for (const Value& x : v.as_list().items) check_hashable(x);
}

Value f_unique(const Value& v, const Args& a) {
  Params p("unique", a, {"case_sensitive", "attribute"});
  ValueList seen, out;
  for (Value& item : iterate(v)) {
    Value k = p.has(1) && !p[1].is_none() ? get_path(item, p[1]) : item;
    if (!p.get_bool(0, false)) k = ignore_case(k);
    check_hashable(k);
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equal(s, k); })) {
      seen.push_back(std::move(k));
      out.push_back(std::move(item));
    }
  }
  return generator(std::move(out));
}

Value f_wordcount(const Value& v, const Args& a) {
  Params("wordcount", a, {});
  int64_t words = 0;
  bool in_word = false;
  for (char32_t c : text::decode(v.str())) {
    bool w = c == '_' || text::is_alpha(c) || text::is_numeric(c);
    words += w && !in_word;
    in_word = w;
  }
  return Value(words);
}

const std::map<std::string, FilterFn, std::less<>> kFilters = {
    {"abs", f_abs},
    {"attr", f_attr},
    {"batch", f_batch},
    {"capitalize", f_capitalize},
    {"center", f_center},
    {"count", f_length},
    {"d", f_default},
    {"default", f_default},
    {"dictsort", f_dictsort},
    {"e", f_escape},
    {"escape", f_escape},
    {"first", f_first},
    {"float", f_float},
    {"forceescape", f_forceescape},
    {"format", f_format},
    {"indent", f_indent},
    {"int", f_int},
    {"items", f_items},
    {"join", f_join},
    {"last", f_last},
    {"length", f_length},
    {"list", f_list},
    {"lower", f_lower},
    {"map", f_map},
    {"max", f_max},
    {"min", f_min},
    {"reject", f_reject},
    {"rejectattr", f_rejectattr},
    {"replace", f_replace},
    {"reverse", f_reverse},
    {"round", f_round},
    {"safe", f_safe},
    {"select", f_select},
    {"selectattr", f_selectattr},
    {"slice", f_slice},
    {"sort", f_sort},
    {"string", f_string},
    {"sum", f_sum},
    {"title", f_title},
    {"tojson", f_tojson},
    {"trim", f_trim},
    {"truncate", f_truncate},
    {"unique", f_unique},
    {"upper", f_upper},
    {"wordcount", f_wordcount},
};

}  // namespace

FilterFn find_filter(const std::string& name) {
  auto it = kFilters.find(name);
  return it == kFilters.end() ? nullptr : it->second;
}

}  // namespace purelm::jinja

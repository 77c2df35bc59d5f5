// The methods of str, dict and list that templates call (message.content.startswith(...),
// tool.items(), ...), with Python's argument conventions and results.
#include <algorithm>
#include <string_view>

#include "purelm/tokenizer/jinja/runtime.h"
#include "purelm/tokenizer/jinja/text.h"

namespace purelm::jinja {
namespace {

using Method = Value (*)(const Value& self, const Args& args);
struct Entry {
  std::string_view name;
  Method fn;
};

std::string need_str(const Value& v) {
  if (!v.is_string()) throw TemplateError("must be str, not " + v.type_name());
  return v.as_string();
}

std::optional<std::string> opt_str(const Params& p, size_t i) {
  if (!p.has(i) || p[i].is_none()) return std::nullopt;
  return need_str(p[i]);
}

// The [start, end) window that str methods' optional start/end arguments select, in code points;
// invalid when start lies beyond the string or the end (Python then finds nothing, not even "").
struct Window {
  std::u32string text;
  int64_t begin = 0;
  bool valid = true;
};
Window window(const Value& self, const Params& p, size_t first) {
  Window w{text::decode(self.as_string())};
  auto n = static_cast<int64_t>(w.text.size());
  auto bound = [&](size_t i, int64_t absent) {
    if (!p.has(i) || p[i].is_none()) return absent;
    int64_t x = to_index(p[i]);
    return x < 0 ? std::max<int64_t>(x + n, 0) : x;
  };
  int64_t b = bound(first, 0), e = std::min(bound(first + 1, n), n);
  if (b > n || b > e) {
    w.valid = false;
    return w;
  }
  w.text = w.text.substr(b, e - b);
  w.begin = b;
  return w;
}

int64_t find_in(const Value& self, const Args& args, const char* name, bool from_right) {
  Params p(name, args, {"sub", "start", "end"}, 1);
  std::u32string sub = text::decode(need_str(p[0]));
  Window w = window(self, p, 1);
  if (!w.valid) return -1;
  size_t hit = from_right ? w.text.rfind(sub) : w.text.find(sub);
  return hit == std::u32string::npos ? -1 : w.begin + static_cast<int64_t>(hit);
}

Value affix_test(const Value& self, const Args& args, const char* name, bool prefix) {
  Params p(name, args, {"affix", "start", "end"}, 1);
  ValueList options = p[0].is_list() && p[0].as_list().shape == List::Shape::Tuple
                          ? p[0].as_list().items
                          : ValueList{p[0]};
  Window w = window(self, p, 1);
  if (!w.valid) return Value(false);
  for (const Value& o : options) {
    std::u32string a = text::decode(need_str(o));
    if (a.size() > w.text.size()) continue;
    if (w.text.compare(prefix ? 0 : w.text.size() - a.size(), a.size(), a) == 0) return Value(true);
  }
  return Value(false);
}

Value strip_method(const Value& self, const Args& args, const char* name, bool l, bool r) {
  Params p(name, args, {"chars"});
  return Value(text::strip(self.as_string(), opt_str(p, 0), l, r));
}

Value split_method(const Value& self, const Args& args, const char* name, bool right) {
  Params p(name, args, {"sep", "maxsplit"});
  ValueList parts;
  for (auto& s : text::split(self.as_string(), opt_str(p, 0), p.get_int(1, -1), right))
    parts.emplace_back(std::move(s));
  return Value(std::move(parts));
}

template <bool (*Pred)(char32_t)>
Value all_chars(const Value& self, const Args& args) {
  Params p("str.is*", args, {});
  std::u32string u = text::decode(self.as_string());
  return Value(!u.empty() && std::all_of(u.begin(), u.end(), Pred));
}

bool is_alnum(char32_t c) { return text::is_alpha(c) || text::is_numeric(c); }
bool is_ascii(char32_t c) { return c < 0x80; }

Value partition(const Value& self, const Args& args, bool right) {
  Params p("partition", args, {"sep"}, 1);
  std::string sep = need_str(p[0]);
  if (sep.empty()) throw TemplateError("empty separator");
  const std::string& s = self.as_string();
  size_t at = right ? s.rfind(sep) : s.find(sep);
  ValueList parts;
  if (at == std::string::npos) {
    parts = right ? ValueList{Value(""), Value(""), Value(s)}
                  : ValueList{Value(s), Value(""), Value("")};
  } else {
    parts = {Value(s.substr(0, at)), Value(sep), Value(s.substr(at + sep.size()))};
  }
  return Value(std::move(parts), List::Shape::Tuple);
}

Value pad_method(const Value& self, const Args& args, char align) {
  Params p("str.center", args, {"width", "fillchar"}, 1);
  std::u32string fill = text::decode(p.has(1) ? need_str(p[1]) : " ");
  if (fill.size() != 1)
    throw TemplateError("The fill character must be exactly one character long");
  return Value(text::pad(self.as_string(), to_index(p[0]), fill[0], align));
}

const Entry kStrMethods[] = {
    {"capitalize",
     [](const Value& s, const Args& a) {
       Params("capitalize", a, {});
       return Value(text::capitalize(s.as_string()));
     }},
    {"casefold",
     [](const Value& s, const Args& a) {
       Params("casefold", a, {});
       return Value(text::casefold(s.as_string()));
     }},
    {"center", [](const Value& s, const Args& a) { return pad_method(s, a, '^'); }},
    {"ljust", [](const Value& s, const Args& a) { return pad_method(s, a, '<'); }},
    {"rjust", [](const Value& s, const Args& a) { return pad_method(s, a, '>'); }},
    {"count",
     [](const Value& s, const Args& a) {
       Params p("count", a, {"sub", "start", "end"}, 1);
       Window w = window(s, p, 1);
       if (!w.valid) return Value(0);
       return Value(text::count(text::encode(w.text), need_str(p[0])));
     }},
    {"endswith", [](const Value& s, const Args& a) { return affix_test(s, a, "endswith", false); }},
    {"startswith",
     [](const Value& s, const Args& a) { return affix_test(s, a, "startswith", true); }},
    {"find", [](const Value& s, const Args& a) { return Value(find_in(s, a, "find", false)); }},
    {"rfind", [](const Value& s, const Args& a) { return Value(find_in(s, a, "rfind", true)); }},
    {"index",
     [](const Value& s, const Args& a) {
       int64_t i = find_in(s, a, "index", false);
       if (i < 0) throw TemplateError("substring not found");
       return Value(i);
     }},
    {"rindex",
     [](const Value& s, const Args& a) {
       int64_t i = find_in(s, a, "rindex", true);
       if (i < 0) throw TemplateError("substring not found");
       return Value(i);
     }},
    {"format", [](const Value& s, const Args& a) { return Value(str_format(s.as_string(), a)); }},
    {"isalnum", all_chars<is_alnum>},
    {"isalpha", all_chars<text::is_alpha>},
    {"isascii",
     [](const Value& s, const Args& a) {
       Params("isascii", a, {});
       std::u32string u = text::decode(s.as_string());
       return Value(std::all_of(u.begin(), u.end(), is_ascii));
     }},
    {"isdecimal", all_chars<text::is_decimal>},
    {"isdigit", all_chars<text::is_decimal>},
    {"isnumeric", all_chars<text::is_numeric>},
    {"isspace", all_chars<text::is_space>},
    {"islower",
     [](const Value& s, const Args& a) {
       Params("islower", a, {});
       return Value(text::is_cased_as(s.as_string(), true));
     }},
    {"isupper",
     [](const Value& s, const Args& a) {
       Params("isupper", a, {});
       return Value(text::is_cased_as(s.as_string(), false));
     }},
    {"istitle",
     [](const Value& s, const Args& a) {
       Params("istitle", a, {});
       bool cased = false, previous_cased = false;
       for (char32_t c : text::decode(s.as_string())) {
         bool up = text::is_upper(c) || (text::is_cased(c) && !text::is_lower(c));
         if ((up && previous_cased) || (text::is_lower(c) && !previous_cased)) return Value(false);
         previous_cased = text::is_cased(c);
         cased = cased || previous_cased;
       }
       return Value(cased);
     }},
    {"join",
     [](const Value& s, const Args& a) {
       Params p("join", a, {"iterable"}, 1);
       std::string out;
       size_t i = 0;
       for (const Value& item : iterate(p[0])) {
         if (!item.is_string())
           throw TemplateError("sequence item " + std::to_string(i) + ": expected str instance, " +
                               item.type_name() + " found");
         out += (i++ ? s.as_string() : "") + item.as_string();
       }
       return Value(std::move(out));
     }},
    {"lower",
     [](const Value& s, const Args& a) {
       Params("lower", a, {});
       return Value(text::lower(s.as_string()));
     }},
    {"upper",
     [](const Value& s, const Args& a) {
       Params("upper", a, {});
       return Value(text::upper(s.as_string()));
     }},
    {"swapcase",
     [](const Value& s, const Args& a) {
       Params("swapcase", a, {});
       return Value(text::swapcase(s.as_string()));
     }},
    {"title",
     [](const Value& s, const Args& a) {
       Params("title", a, {});
       return Value(text::title(s.as_string()));
     }},
    {"strip",
     [](const Value& s, const Args& a) { return strip_method(s, a, "strip", true, true); }},
    {"lstrip",
     [](const Value& s, const Args& a) { return strip_method(s, a, "lstrip", true, false); }},
    {"rstrip",
     [](const Value& s, const Args& a) { return strip_method(s, a, "rstrip", false, true); }},
    {"split", [](const Value& s, const Args& a) { return split_method(s, a, "split", false); }},
    {"rsplit", [](const Value& s, const Args& a) { return split_method(s, a, "rsplit", true); }},
    {"splitlines",
     [](const Value& s, const Args& a) {
       Params p("splitlines", a, {"keepends"});
       ValueList lines;
       for (auto& l : text::splitlines(s.as_string(), p.get_bool(0, false))) lines.emplace_back(l);
       return Value(std::move(lines));
     }},
    {"partition", [](const Value& s, const Args& a) { return partition(s, a, false); }},
    {"rpartition", [](const Value& s, const Args& a) { return partition(s, a, true); }},
    {"removeprefix",
     [](const Value& s, const Args& a) {
       Params p("removeprefix", a, {"prefix"}, 1);
       std::string x = need_str(p[0]);
       const std::string& str = s.as_string();
       return Value(str.compare(0, x.size(), x) == 0 ? str.substr(x.size()) : str);
     }},
    {"removesuffix",
     [](const Value& s, const Args& a) {
       Params p("removesuffix", a, {"suffix"}, 1);
       std::string x = need_str(p[0]);
       const std::string& str = s.as_string();
       bool hit = !x.empty() && str.size() >= x.size() &&
                  str.compare(str.size() - x.size(), x.size(), x) == 0;
       return Value(hit ? str.substr(0, str.size() - x.size()) : str);
     }},
    {"replace",
     [](const Value& s, const Args& a) {
       Params p("replace", a, {"old", "new", "count"}, 2);
       return Value(text::replace(s.as_string(), need_str(p[0]), need_str(p[1]), p.get_int(2, -1)));
     }},
    {"zfill",
     [](const Value& s, const Args& a) {
       Params p("zfill", a, {"width"}, 1);
       std::string str = s.as_string();
       int64_t fill = to_index(p[0]) - static_cast<int64_t>(text::length(str));
       if (fill <= 0) return Value(str);
       size_t at = !str.empty() && (str[0] == '+' || str[0] == '-') ? 1 : 0;
       return Value(str.insert(at, std::string(fill, '0')));
     }},
};

Value dict_view(const Value& self, List::Shape shape) {
  ValueList items;
  for (const auto& [k, v] : self.as_dict().entries) {
    if (shape == List::Shape::Items)
      items.emplace_back(ValueList{k, v}, List::Shape::Tuple);
    else
      items.push_back(shape == List::Shape::Keys ? k : v);
  }
  return Value(std::move(items), shape);
}

const Entry kDictMethods[] = {
    {"items",
     [](const Value& d, const Args& a) {
       Params("items", a, {});
       return dict_view(d, List::Shape::Items);
     }},
    {"keys",
     [](const Value& d, const Args& a) {
       Params("keys", a, {});
       return dict_view(d, List::Shape::Keys);
     }},
    {"values",
     [](const Value& d, const Args& a) {
       Params("values", a, {});
       return dict_view(d, List::Shape::Values);
     }},
    {"get",
     [](const Value& d, const Args& a) {
       Params p("get", a, {"key", "default"}, 1);
       const Value* v = d.as_dict().find(p[0]);
       return v ? *v : p.get(1, Value());
     }},
    {"copy",
     [](const Value& d, const Args& a) {
       Params("copy", a, {});
       return d;
     }},
};

int64_t list_index(const Value& l, const Args& a) {
  Params p("index", a, {"value"}, 1);
  const ValueList& items = l.as_list().items;
  for (size_t i = 0; i < items.size(); ++i)
    if (equal(items[i], p[0])) return static_cast<int64_t>(i);
  throw TemplateError(p[0].repr() + " is not in list");
}

const Entry kListMethods[] = {
    {"count",
     [](const Value& l, const Args& a) {
       Params p("count", a, {"value"}, 1);
       const ValueList& items = l.as_list().items;
       return Value(std::count_if(items.begin(), items.end(),
                                  [&](const Value& x) { return equal(x, p[0]); }));
     }},
    {"index", [](const Value& l, const Args& a) { return Value(list_index(l, a)); }},
    {"copy",
     [](const Value& l, const Args& a) {
       Params("copy", a, {});
       return Value(l.as_list().items);
     }},
};

// Methods that exist in Python but mutate: the immutable sandbox refuses them.
constexpr std::string_view kUnsafeDict[] = {"clear", "pop", "popitem", "setdefault", "update"};
constexpr std::string_view kUnsafeList[] = {"append", "clear",  "extend",  "insert",
                                            "pop",    "remove", "reverse", "sort"};

template <size_t N>
const Entry* find_entry(const Entry (&table)[N], std::string_view name) {
  for (const Entry& e : table)
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace

std::optional<Value> get_method(const Value& self, const std::string& name) {
  const Entry* e = nullptr;
  bool unsafe = false;
  if (self.is_string()) {
    e = find_entry(kStrMethods, name);
  } else if (self.is_dict()) {
    e = find_entry(kDictMethods, name);
    unsafe =
        std::find(std::begin(kUnsafeDict), std::end(kUnsafeDict), name) != std::end(kUnsafeDict);
  } else if (self.is_list() && self.as_list().shape <= List::Shape::Tuple) {
    e = find_entry(kListMethods, name);
    if (self.as_list().shape == List::Shape::List)
      unsafe =
          std::find(std::begin(kUnsafeList), std::end(kUnsafeList), name) != std::end(kUnsafeList);
    else if (name == "copy")
      e = nullptr;  // tuples have no copy()
  }
  if (unsafe)
    return Value::undefined("access to attribute '" + name + "' of '" + self.type_name() +
                            "' object is unsafe.");
  if (!e) return std::nullopt;
  Method fn = e->fn;
  return make_function(self.type_name() + "." + name,
                       [self, fn](const Args& args) { return fn(self, args); });
}

}  // namespace purelm::jinja

// Python's text formatting: `fmt % args`, str.format, and json.dumps (the tojson filter).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "purelm/tokenizer/jinja/runtime.h"
#include "purelm/tokenizer/jinja/text.h"

namespace purelm::jinja {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A number in `fmt` at i (advancing i), or -1 when there is none.
int64_t read_number(const std::string& fmt, size_t& i) {
  if (i >= fmt.size() || !is_digit(fmt[i])) return -1;
  int64_t n = 0;
  while (i < fmt.size() && is_digit(fmt[i]))
    n = std::min<int64_t>(n * 10 + (fmt[i++] - '0'), 1 << 20);
  return n;
}

std::string c_format(const std::string& spec, double x) {
  char buf[512];
  int n = std::snprintf(buf, sizeof buf, spec.c_str(), x);
  if (n < static_cast<int>(sizeof buf)) return buf;
  std::string big(n + 1, '\0');
  std::snprintf(big.data(), big.size(), spec.c_str(), x);
  big.resize(n);
  return big;
}

// Formats a number for the integer or float conversions shared by both mini-languages; the sign
// is handled here so negative hex/octal read as Python prints them ("-0x1f").
std::string format_number(const Value& v, char type, int64_t precision, bool alt, char sign) {
  std::string body;
  bool negative;
  if (std::string_view("dioxXbcu").find(type) != std::string_view::npos) {
    if (!v.is_number())
      throw TemplateError(std::string("%") + type + " format: a real number is required, not " +
                          v.type_name());
    int64_t i = v.kind() == Value::Kind::Float ? static_cast<int64_t>(v.as_float()) : v.as_int();
    if (type == 'c') {
      text::append_utf8(body, static_cast<char32_t>(i));
      return body;
    }
    negative = i < 0;
    uint64_t u = negative ? 0 - static_cast<uint64_t>(i) : static_cast<uint64_t>(i);
    if (type == 'b') {
      do body.insert(body.begin(), static_cast<char>('0' + (u & 1)));
      while (u >>= 1);
      if (alt) body = "0b" + body;
    } else {
      char buf[32];
      const char* f = type == 'x' ? "%llx" : type == 'X' ? "%llX" : type == 'o' ? "%llo" : "%llu";
      std::snprintf(buf, sizeof buf, f, static_cast<unsigned long long>(u));
      body = buf;
      if (alt && type != 'd' && type != 'i' && type != 'u')
        body = (type == 'o' ? "0o" : type == 'x' ? "0x" : "0X") + body;
    }
  } else {
    if (!v.is_number())
      throw TemplateError(std::string("must be real number, not ") + v.type_name());
    double x = v.as_float();
    negative = std::signbit(x) && !std::isnan(x);
    std::string spec = std::string("%") + (alt ? "#" : "") + "." +
                       std::to_string(precision < 0 ? 6 : precision) + type;
    body = c_format(spec, std::fabs(x));
  }
  std::string prefix = negative ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
  return prefix + body;
}

std::string pad_to(std::string s, int64_t width, char align, char32_t fill) {
  return text::pad(s, width, fill, align);
}

// Zero padding goes between the sign and the digits.
std::string zero_pad(std::string s, int64_t width) {
  auto n = static_cast<int64_t>(text::length(s));
  if (n >= width) return s;
  size_t at = !s.empty() && (s[0] == '-' || s[0] == '+' || s[0] == ' ') ? 1 : 0;
  if (s.compare(at, 2, "0x") == 0 || s.compare(at, 2, "0X") == 0 || s.compare(at, 2, "0o") == 0 ||
      s.compare(at, 2, "0b") == 0)
    at += 2;
  return s.insert(at, std::string(width - n, '0'));
}

std::string json_quote(const std::string& s, bool ensure_ascii) {
  std::string out = "\"";
  char buf[16];
  for (char32_t c : text::decode(s)) {
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (c < 0x20 || (ensure_ascii && c > 0x7E)) {
      if (c > 0xFFFF) {
        char32_t v = c - 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                      static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      }
      out += buf;
    } else {
      text::append_utf8(out, c);
    }
  }
  return out + "\"";
}

std::string json_float(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  return text::float_repr(x);
}

[[noreturn]] void not_serializable(const Value& v) {
  throw TemplateError("Object of type " + v.type_name() + " is not JSON serializable");
}

void dump(const Value& v, const JsonOptions& o, int level, std::string& out) {
  using K = Value::Kind;
  switch (v.kind()) {
    case K::None:
      out += "null";
      return;
    case K::Bool:
      out += v.as_bool() ? "true" : "false";
      return;
    case K::Int:
      out += std::to_string(v.as_int());
      return;
    case K::Float:
      out += json_float(v.as_float());
      return;
    case K::String:
      out += json_quote(v.as_string(), o.ensure_ascii);
      return;
    case K::List:
    case K::Dict:
      break;
    default:
      not_serializable(v);
  }
  bool is_dict = v.is_dict();
  if (!is_dict && v.as_list().shape > List::Shape::Tuple) not_serializable(v);
  std::vector<std::pair<Value, Value>> entries;
  if (is_dict) {
    entries = v.as_dict().entries;
    if (o.sort_keys)
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto& a, const auto& b) { return less(a.first, b.first); });
  } else {
    for (const auto& item : v.as_list().items) entries.emplace_back(Value(), item);
  }
  char open = is_dict ? '{' : '[', close = is_dict ? '}' : ']';
  if (entries.empty()) {
    out += open;
    out += close;
    return;
  }
  std::string newline;
  if (o.indent) {
    newline = "\n";
    for (int i = 0; i <= level; ++i) newline += *o.indent;
  }
  out += open;
  out += newline;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i) out += o.item_sep + newline;
    if (is_dict) {
      const Value& k = entries[i].first;
      switch (k.kind()) {
        case K::String:
          out += json_quote(k.as_string(), o.ensure_ascii);
          break;
        case K::Float:
          out += "\"" + json_float(k.as_float()) + "\"";
          break;
        case K::Bool:
          out += k.as_bool() ? "\"true\"" : "\"false\"";
          break;
        case K::Int:
          out += "\"" + std::to_string(k.as_int()) + "\"";
          break;
        case K::None:
          out += "\"null\"";
          break;
        default:
          throw TemplateError("keys must be str, int, float, bool or None, not " + k.type_name());
      }
      out += o.key_sep;
    }
    dump(entries[i].second, o, level + 1, out);
  }
  if (o.indent) {
    out += "\n";
    for (int i = 0; i < level; ++i) out += *o.indent;
  }
  out += close;
}

}  // namespace

std::string percent_format(const std::string& fmt, const Value& args) {
  bool tuple = args.is_list() && args.as_list().shape == List::Shape::Tuple;
  ValueList positional = tuple ? args.as_list().items : ValueList{args};
  size_t next = 0;
  bool used_mapping = false;
  auto take = [&]() -> const Value& {
    if (next >= positional.size()) throw TemplateError("not enough arguments for format string");
    return positional[next++];
  };
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) throw TemplateError("incomplete format");
    const Value* value = nullptr;
    if (fmt[i] == '(') {
      size_t close = fmt.find(')', i);
      if (close == std::string::npos) throw TemplateError("incomplete format key");
      if (!args.is_dict()) throw TemplateError("format requires a mapping");
      value = args.as_dict().find(Value(fmt.substr(i + 1, close - i - 1)));
      if (!value) throw TemplateError("KeyError: '" + fmt.substr(i + 1, close - i - 1) + "'");
      used_mapping = true;
      i = close + 1;
    }
    bool left = false, zero = false, alt = false;
    char sign = 0;
    for (; i < fmt.size() && std::string_view("-+ #0").find(fmt[i]) != std::string_view::npos;
         ++i) {
      if (fmt[i] == '-')
        left = true;
      else if (fmt[i] == '0')
        zero = true;
      else if (fmt[i] == '#')
        alt = true;
      else if (sign != '+')
        sign = fmt[i];
    }
    int64_t width = i < fmt.size() && fmt[i] == '*' ? (++i, to_index(take())) : read_number(fmt, i);
    int64_t precision = -1;
    if (i < fmt.size() && fmt[i] == '.') {
      ++i;
      precision = i < fmt.size() && fmt[i] == '*' ? (++i, to_index(take()))
                                                  : std::max<int64_t>(read_number(fmt, i), 0);
    }
    while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
    if (i >= fmt.size()) throw TemplateError("incomplete format");
    char type = fmt[i];
    if (type == '%') {
      out += '%';
      continue;
    }
    const Value& v = value ? *value : take();
    std::string piece;
    if (type == 's' || type == 'r' || type == 'a') {
      piece = type == 's' ? v.str() : v.repr();
      if (precision >= 0) piece = text::slice(piece, 0, precision, 1);
    } else if (std::string_view("diouxXeEfFgGc").find(type) != std::string_view::npos) {
      piece = format_number(v, type == 'u' ? 'd' : type, precision, alt, sign);
      if (zero && !left) piece = zero_pad(piece, width);
    } else {
      throw TemplateError(std::string("unsupported format character '") + type + "'");
    }
    out += pad_to(piece, width, left ? '<' : '>', ' ');
  }
  if (next < positional.size() && !used_mapping && !(args.is_dict() && next == 0))
    throw TemplateError("not all arguments converted during string formatting");
  return out;
}

namespace {

// The end of the replacement field that opens at fmt[open]: its matching '}', past the fields
// nested in its format spec ("{0:>{1}}").
size_t field_end(const std::string& fmt, size_t open) {
  int depth = 0;
  for (size_t i = open; i < fmt.size(); ++i) {
    if (fmt[i] == '{') ++depth;
    if (fmt[i] == '}' && --depth == 0) return i;
  }
  throw TemplateError("Single '{' encountered in format string");
}

// A field's index ("{12}", "{0[3]}"), as str.format reads it.
size_t index_of(const std::string& digits) {
  const std::optional<int64_t> v = text::digits_value(digits);
  if (!v) throw TemplateError("Too many decimal digits in format string");
  return static_cast<size_t>(*v);
}

struct Formatter {
  const Args& args;
  int auto_index = 0;
  bool manual = false;

  // Formats literal text, {{ and }} escapes and replacement fields; a format spec (depth 1) may
  // hold fields of its own, theirs may not.
  std::string expand(const std::string& fmt, int depth) {
    std::string out;
    for (size_t i = 0; i < fmt.size(); ++i) {
      char c = fmt[i];
      if (c == '}') {
        if (i + 1 < fmt.size() && fmt[i + 1] == '}')
          ++i, out += '}';
        else
          throw TemplateError("Single '}' encountered in format string");
        continue;
      }
      if (c != '{') {
        out += c;
        continue;
      }
      if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
        ++i;
        out += '{';
        continue;
      }
      if (depth > 1) throw TemplateError("Max string recursion exceeded");
      size_t close = field_end(fmt, i);
      out += field(fmt.substr(i + 1, close - i - 1), depth);
      i = close;
    }
    return out;
  }

  // One replacement field, "name[.attr|[key]]...[!conversion][:spec]".
  std::string field(std::string field, int depth) {
    std::string spec;
    if (size_t colon = field.find(':'); colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field.resize(colon);
    }
    char conversion = 0;
    if (size_t bang = field.find('!'); bang != std::string::npos) {
      conversion = bang + 1 < field.size() ? field[bang + 1] : 0;
      field.resize(bang);
    }
    size_t name_end = std::min(field.find('.'), field.find('['));
    std::string name = field.substr(0, name_end);
    Value v;
    if (name.empty() || std::all_of(name.begin(), name.end(), is_digit)) {
      if (name.empty() ? manual : auto_index > 0)
        throw TemplateError("cannot switch between automatic and manual field numbering");
      size_t k = name.empty() ? static_cast<size_t>(auto_index++) : index_of(name);
      manual = manual || !name.empty();
      if (k >= args.positional.size())
        throw TemplateError("Replacement index " + std::to_string(k) + " out of range");
      v = args.positional[k];
    } else {
      auto kw = std::find_if(args.keyword.begin(), args.keyword.end(),
                             [&](const auto& p) { return p.first == name; });
      if (kw == args.keyword.end()) throw TemplateError("KeyError: '" + name + "'");
      v = kw->second;
    }
    for (size_t p = name_end; p < field.size();) {  // .attr and [key] accessors
      if (field[p] == '.') {
        size_t e = std::min(field.find('.', p + 1), field.find('[', p + 1));
        v = get_attr(v, field.substr(p + 1, e - p - 1));
        p = e;
      } else {
        size_t e = field.find(']', p);
        std::string key = field.substr(p + 1, e - p - 1);
        bool digits = !key.empty() && std::all_of(key.begin(), key.end(), is_digit);
        v = get_item(v, digits ? Value(static_cast<int64_t>(index_of(key))) : Value(key));
        p = e == std::string::npos ? e : e + 1;
      }
    }
    if (conversion == 'r' || conversion == 'a')
      v = Value(v.repr());
    else if (conversion == 's')
      v = Value(v.str());
    spec = expand(spec, depth + 1);  // after the value, as Python numbers the fields
    if (spec.empty()) return v.str();
    // [[fill]align][sign][#][0][width][,|_][.precision][type]
    size_t p = 0;
    char32_t fill = ' ';
    char align = 0, sign = 0;
    std::u32string u = text::decode(spec);
    if (u.size() >= 2 && std::u32string_view(U"<>^=").find(u[1]) != std::u32string_view::npos) {
      fill = u[0];
      align = static_cast<char>(u[1]);
      spec = text::encode(u.substr(2));
    } else if (!spec.empty() && std::string_view("<>^=").find(spec[0]) != std::string_view::npos) {
      align = spec[p++];
    }
    if (p < spec.size() && (spec[p] == '+' || spec[p] == '-' || spec[p] == ' ')) sign = spec[p++];
    bool alt = p < spec.size() && spec[p] == '#' && (++p, true);
    bool zero = p < spec.size() && spec[p] == '0' && (++p, true);
    int64_t width = read_number(spec, p);
    char grouping = p < spec.size() && (spec[p] == ',' || spec[p] == '_') ? spec[p++] : 0;
    int64_t precision = -1;
    if (p < spec.size() && spec[p] == '.') precision = read_number(spec, ++p);
    char type = p < spec.size() ? spec[p++] : 0;
    if (p != spec.size()) throw TemplateError("Invalid format specifier");
    std::string piece;
    if (v.is_string() && (type == 0 || type == 's')) {
      piece = precision >= 0 ? text::slice(v.as_string(), 0, precision, 1) : v.as_string();
      align = align ? align : '<';
    } else if (v.is_number()) {
      if (type == 0) type = v.kind() == Value::Kind::Float ? (precision >= 0 ? 'g' : 'r') : 'd';
      piece = type == 'r' ? (sign == '+' && !std::signbit(v.as_float()) ? "+" : "") + v.repr()
              : type == '%'
                  ? format_number(Value(v.as_float() * 100), 'f', precision, alt, sign) + "%"
                  : format_number(v, type, precision, alt, sign);
      if (grouping) {
        size_t start = piece.find_first_of("0123456789");
        size_t end = piece.find_first_not_of("0123456789", start);
        end = end == std::string::npos ? piece.size() : end;
        for (int64_t k = static_cast<int64_t>(end) - 3; k > static_cast<int64_t>(start); k -= 3)
          piece.insert(k, 1, grouping);
      }
      if (zero && !align) piece = zero_pad(piece, width);
      align = align ? align : '>';
    } else {
      throw TemplateError("unsupported format string passed to " + v.type_name() + ".__format__");
    }
    if (align == '=')
      piece = zero_pad(piece, width);
    else
      piece = pad_to(piece, width, align, fill);
    return piece;
  }
};

}  // namespace

std::string str_format(const std::string& fmt, const Args& args) {
  return Formatter{args}.expand(fmt, 0);
}

std::string to_json(const Value& v, const JsonOptions& options) {
  std::string out;
  dump(v, options, 0, out);
  return out;
}

}  // namespace purelm::jinja

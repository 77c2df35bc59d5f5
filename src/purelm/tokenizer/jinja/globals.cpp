// Global functions available to every template.
#include <chrono>
#include <ctime>

#include "purelm/tokenizer/jinja/runtime.h"

namespace purelm::jinja {
namespace {

constexpr int64_t kMaxRange = 100000;  // the sandbox refuses larger ranges

// Python's dict(*args, **kwargs): a mapping or iterable of pairs, then keyword entries.
Dict make_dict(const char* fn, const Args& a) {
  if (a.positional.size() > 1)
    throw TemplateError(std::string(fn) + " expected at most 1 argument, got " +
                        std::to_string(a.positional.size()));
  Dict d;
  if (!a.positional.empty()) {
    const Value& src = a.positional[0];
    if (src.is_dict()) {
      d = src.as_dict();
    } else {
      for (const Value& pair : iterate(src)) {
        ValueList kv = iterate(pair);
        if (kv.size() != 2)
          throw TemplateError("dictionary update sequence element has length " +
                              std::to_string(kv.size()) + "; 2 is required");
        d.set(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [k, v] : a.keyword) d.set(Value(k), v);
  return d;
}

Value range(const Args& a) {
  if (!a.keyword.empty()) throw TemplateError("range() takes no keyword arguments");
  const ValueList& p = a.positional;
  if (p.empty() || p.size() > 3)
    throw TemplateError("range expected 1 to 3 arguments, got " + std::to_string(p.size()));
  int64_t start = p.size() == 1 ? 0 : to_index(p[0]);
  int64_t stop = to_index(p.size() == 1 ? p[0] : p[1]);
  int64_t step = p.size() == 3 ? to_index(p[2]) : 1;
  if (step == 0) throw TemplateError("range() arg 3 must not be zero");
  int64_t n = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                       : (start > stop ? (start - stop - step - 1) / -step : 0);
  if (n > kMaxRange)
    throw TemplateError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  ValueList out;
  for (int64_t i = 0; i < n; ++i) out.emplace_back(start + i * step);
  return Value(std::move(out));
}

// Returns "" on the first call and the separator afterwards.
struct Joiner : Object {
  std::string sep;
  bool used = false;
  std::string type_name() const override { return "Joiner"; }
  bool callable() const override { return true; }
  Value call(const Args& a) override {
    Params("joiner", a, {});
    bool first = !used;
    used = true;
    return Value(first ? "" : sep);
  }
};

struct Cycler : Object, std::enable_shared_from_this<Cycler> {
  ValueList items;
  size_t pos = 0;
  std::string type_name() const override { return "Cycler"; }
  Value attr(const std::string& name) const override {
    auto self = std::const_pointer_cast<Cycler>(shared_from_this());
    if (name == "current") return items[pos];
    if (name == "next")
      return make_function("Cycler.next", [self](const Args&) {
        Value v = self->items[self->pos];
        self->pos = (self->pos + 1) % self->items.size();
        return v;
      });
    if (name == "reset")
      return make_function("Cycler.reset", [self](const Args&) {
        self->pos = 0;
        return Value();
      });
    return Object::attr(name);
  }
};

// datetime.now().strftime(fmt): C strftime, plus Python's %f (microseconds).
std::string strftime_now(const std::string& fmt) {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000;
  std::tm tm{};
  localtime_r(&t, &tm);
  std::string f;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] == '%' && i + 1 < fmt.size() && fmt[i + 1] == 'f') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "%06lld", static_cast<long long>(micros));
      f += buf;
      ++i;
    } else {
      f += fmt[i];
      if (fmt[i] == '%' && i + 1 < fmt.size()) f += fmt[++i];
    }
  }
  if (f.empty()) return "";
  for (size_t size = 256;; size *= 2) {
    std::string out(size, '\0');
    size_t n = std::strftime(out.data(), size, f.c_str(), &tm);
    if (n > 0 || size > 65536) return out.substr(0, n);
  }
}

}  // namespace

Value Namespace::attr(const std::string& name) const {
  if (const Value* v = attrs.find(Value(name))) return *v;
  return Object::attr(name);
}

std::vector<std::pair<std::string, Value>> global_functions() {
  return {
      {"range", make_function("range", range)},
      {"dict", make_function("dict", [](const Args& a) { return Value(make_dict("dict", a)); })},
      {"namespace", make_function("namespace",
                                  [](const Args& a) {
                                    auto ns = std::make_shared<Namespace>();
                                    ns->attrs = make_dict("namespace", a);
                                    return Value(std::shared_ptr<Object>(ns));
                                  })},
      {"joiner", make_function("joiner",
                               [](const Args& a) {
                                 Params p("joiner", a, {"sep"});
                                 auto j = std::make_shared<Joiner>();
                                 j->sep = p.has(0) ? p[0].str() : ", ";
                                 return Value(std::shared_ptr<Object>(j));
                               })},
      {"cycler", make_function("cycler",
                               [](const Args& a) {
                                 if (a.positional.empty())
                                   throw TemplateError("at least one item has to be provided");
                                 auto c = std::make_shared<Cycler>();
                                 c->items = a.positional;
                                 return Value(std::shared_ptr<Object>(c));
                               })},
      {"raise_exception", make_function("raise_exception",
                                        [](const Args& a) -> Value {
                                          Params p("raise_exception", a, {"message"}, 1);
                                          throw TemplateError(p[0].str());
                                        })},
      {"strftime_now", make_function("strftime_now",
                                     [](const Args& a) {
                                       Params p("strftime_now", a, {"format"}, 1);
                                       return Value(strftime_now(p[0].str()));
                                     })},
  };
}

}  // namespace purelm::jinja

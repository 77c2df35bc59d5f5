#include "purelm/train/history.h"

#include <cstdio>

namespace purelm {

namespace {

std::string num(const char* fmt, double v) {
  if (std::isnan(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

double number_or_nan(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : NAN;
}

}  // namespace

std::string history_csv(const std::vector<LogRow>& rows) {
  std::string csv = "step,train_loss,val_loss,val_bpb,lr,tokens_per_s,elapsed_s\n";
  for (const LogRow& r : rows) {
    csv += std::to_string(r.step) + "," + num("%.9g", r.train_loss) + "," +
           num("%.9g", r.val_loss) + "," + num("%.9g", r.val_bpb) + "," + num("%.6g", r.lr) + "," +
           num("%.1f", r.tokens_per_s) + "," + num("%.3f", r.elapsed_s) + "\n";
  }
  return csv;
}

nlohmann::json history_to_json(const std::vector<LogRow>& rows) {
  nlohmann::json a = nlohmann::json::array();
  for (const LogRow& r : rows) {
    nlohmann::json j = {{"step", r.step},
                        {"lr", r.lr},
                        {"tokens_per_s", r.tokens_per_s},
                        {"elapsed_s", r.elapsed_s}};
    for (auto [key, v] : {std::pair{"train_loss", r.train_loss}, std::pair{"val_loss", r.val_loss},
                          std::pair{"val_bpb", r.val_bpb}})
      if (!std::isnan(v)) j[key] = v;
    a.push_back(j);
  }
  return a;
}

std::vector<LogRow> history_from_json(const nlohmann::json& j) {
  std::vector<LogRow> rows;
  for (const nlohmann::json& r : j) {
    rows.push_back({r.at("step").get<int64_t>(), number_or_nan(r, "train_loss"),
                    number_or_nan(r, "val_loss"), number_or_nan(r, "val_bpb"),
                    number_or_nan(r, "lr"), number_or_nan(r, "tokens_per_s"),
                    number_or_nan(r, "elapsed_s")});
  }
  return rows;
}

}  // namespace purelm

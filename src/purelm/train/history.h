// The per-step log of a run: kept in trainer_state.json (so a resumed run continues it) and
// written as train_log.csv.
#pragma once

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace purelm {

struct LogRow {
  int64_t step = 0;                                        // updates done, 1-based
  double train_loss = NAN, val_loss = NAN, val_bpb = NAN;  // NaN: not measured at this step
  double lr = 0, tokens_per_s = 0, elapsed_s = 0;
};

// step,train_loss,val_loss,val_bpb,lr,tokens_per_s,elapsed_s; unmeasured values are left empty.
std::string history_csv(const std::vector<LogRow>& rows);
nlohmann::json history_to_json(const std::vector<LogRow>& rows);
std::vector<LogRow> history_from_json(const nlohmann::json& j);

}  // namespace purelm

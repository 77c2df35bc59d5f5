#include "purelm/train/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "purelm/io/safetensors.h"
#include "purelm/train/init.h"
#include "purelm/train/plot.h"

namespace purelm {

namespace {

const Tensor& find_param(const std::vector<Param>& params, const std::string& name) {
  for (const Param& p : params)
    if (p.name == name) return p.value;
  fail("no trainable parameter '", name, "'");
}

// Copies `src` (any float dtype, same shape) into the float32 tensor `dst` in place.
void assign(const Tensor& dst, const Tensor& src, const std::string& what) {
  check(src.shape() == dst.shape(), what, " has shape ", src.shape(), ", expected ", dst.shape());
  Tensor f = src.to(DType::F32), d = dst;
  std::memcpy(d.raw(), f.raw(), f.nbytes());
}

}  // namespace

bool has_checkpoint(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::is_regular_file(std::filesystem::path(dir) / "trainer_state.json", ec);
}

void save_checkpoint(const std::string& dir, const CheckpointData& ck) {
  const Config& c = *ck.config;
  replace_folder(dir, [&](const std::string& tmp) {
    write_file(tmp + "/config.json", config_to_json(c).dump(2) + "\n");
    write_weights(tmp, weight_table(c), c.torch_dtype,
                  [&](const WeightInfo& w) { return find_param(*ck.params, w.name); });
    for (const auto& [name, contents] : ck.files) write_file(tmp + "/" + name, contents);
    if (!ck.files.count("generation_config.json"))
      write_file(tmp + "/generation_config.json", generation_config_json(c));
    if (ck.exp_avg && ck.exp_avg_sq) {
      std::vector<std::pair<std::string, Tensor>> tensors;
      for (size_t i = 0; i < ck.params->size(); ++i) {
        const Param& p = (*ck.params)[i];
        tensors.push_back({"exp_avg." + p.name, (*ck.exp_avg)[i]});
        tensors.push_back({"exp_avg_sq." + p.name, (*ck.exp_avg_sq)[i]});
        if (c.torch_dtype != DType::F32) tensors.push_back({"master." + p.name, p.value});
      }
      save_safetensors(tmp + "/optimizer.safetensors", tensors);
    }
    nlohmann::json state = ck.state;
    state["history"] = history_to_json(ck.history);
    write_file(tmp + "/trainer_state.json", state.dump(2) + "\n");
    write_file(tmp + "/train_log.csv", history_csv(ck.history));
    write_file(tmp + "/loss.svg", loss_plot_svg(ck.history, ck.plot_title));
  });
}

nlohmann::json load_checkpoint(const std::string& dir, const std::vector<Param>& params, AdamW& opt,
                               const LocalPart& part) {
  nlohmann::json state;
  {
    std::ifstream in(dir + "/trainer_state.json");
    check(in.good(), "cannot read ", dir, "/trainer_state.json");
    try {
      state = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      fail(dir, "/trainer_state.json: ", e.what());
    }
  }
  TensorStore weights = TensorStore::open_dir(dir);
  TensorStore moments = TensorStore::open_file(dir + "/optimizer.safetensors");
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    auto mine = [&](const Tensor& whole) { return part ? part(i, whole) : whole; };
    std::string master = "master." + p.name;
    assign(p.value, mine(moments.contains(master) ? moments.get(master) : weights.get(p.name)),
           p.name);
    assign(opt.m()[i], mine(moments.get("exp_avg." + p.name)), "exp_avg." + p.name);
    assign(opt.v()[i], mine(moments.get("exp_avg_sq." + p.name)), "exp_avg_sq." + p.name);
  }
  opt.set_steps(state.at("adamw_step").get<int64_t>());
  return state;
}

}  // namespace purelm

#include <cstdarg>
#include <cstdio>

#include "bench/bench.h"

namespace purelm::bench {

namespace {

using Json = nlohmann::ordered_json;

__attribute__((format(printf, 1, 2))) std::string fmt(const char* f, ...) {
  char buf[512];
  va_list args;
  va_start(args, f);
  std::vsnprintf(buf, sizeof buf, f, args);
  va_end(args);
  return buf;
}

double num(const Json& j, const char* key) { return j.at(key).get<double>(); }
std::string str(const Json& j, const char* key) { return j.at(key).get<std::string>(); }

std::string header(const Json& r) {
  const Json &m = r.at("model"), &x = r.at("machine");
  return fmt("# purelm bench: %s\n\n", str(m, "spec").c_str()) +
         fmt("%s, %.2fM parameters (%.2fM in matmuls per token), %s weights, %s activations; "
             "D %lld, L %lld, N %lld, K %lld, H %lld, F %lld, V %lld.\n",
             str(m, "model_type").c_str(), num(m, "params") / 1e6, num(m, "matmul_params") / 1e6,
             str(m, "weights").c_str(), str(m, "activations").c_str(), (long long)num(m, "D"),
             (long long)num(m, "L"), (long long)num(m, "N"), (long long)num(m, "K"),
             (long long)num(m, "H"), (long long)num(m, "F"), (long long)num(m, "V")) +
         fmt("Machine: %s; %d cores, threads in use: %d; kernels: %s (%s; the CPU has %s).\n\n",
             str(x, "cpu").c_str(), int(num(x, "cores")), int(num(x, "threads")),
             str(x, "isa").c_str(), str(x, "isa_features").c_str(), str(x, "cpu_features").c_str());
}

std::string machine(const Json& x) {
  const int n = int(num(x, "matmul_size")), threads = int(num(x, "threads"));
  return "## Machine limits\n\n| limit | measured |\n| --- | ---: |\n" +
         fmt("| read bandwidth, 1 thread | %.1f GB/s |\n", num(x, "read_gbs_1")) +
         fmt("| read bandwidth, %d threads | %.1f GB/s |\n", threads, num(x, "read_gbs_all")) +
         fmt("| f32 matmul %dx%dx%d (kernels::gemm) | %.1f GFLOP/s |\n", n, n, n,
             num(x, "f32_gflops")) +
         fmt("| bf16 matmul %dx%dx%d (kernels::gemm) | %.1f GFLOP/s |\n", n, n, n,
             num(x, "bf16_gflops")) +
         fmt("| f32 multiply-add instruction peak | %.1f GFLOP/s |\n", num(x, "f32_peak_gflops")) +
         fmt("| bf16 multiply-add instruction peak | %.1f GFLOP/s |\n\n",
             num(x, "bf16_peak_gflops")) +
         "The instruction peaks: independent multiply-add chains in registers on every thread, "
         "the vector units' limit that no matmul reaches; MFU is against the achieved matmul, "
         "and the tables give the share of the instruction peak beside it.\n\n";
}

std::string decode(const Json& rows) {
  std::string s = fmt("## Decode (context %lld, one model step, no sampling)\n\n",
                      (long long)num(rows.at(0), "context")) +
                  "| B | ms/step | tok/s per row | tok/s total | MB read/step (weights + KV) | "
                  "GB/s | bw util |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const Json& d : rows)
    s += fmt("| %lld | %.2f | %.2f | %.1f | %.1f + %.1f | %.1f | %.0f%% |\n",
             (long long)num(d, "batch"), num(d, "ms_per_step"), num(d, "tok_s_per_row"),
             num(d, "tok_s"), num(d, "weight_mb_per_step"), num(d, "kv_mb_per_step"), num(d, "gbs"),
             100 * num(d, "bw_util"));
  return s +
         "\nBytes per step: every weight once (the embedding table only at the B rows looked up "
         "unless it is the LM head too) plus the KV cache attention reads. bw util = those bytes "
         "per second / the all-thread read bandwidth.\n\n";
}

std::string prefill(const Json& rows) {
  std::string s =
      fmt("## Prefill\n\n| tokens | s | tok/s | GFLOP/s | MFU (%s matmul) | of the "
          "instruction peak |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n",
          str(rows.at(0), "peak").c_str());
  for (const Json& p : rows)
    s += fmt("| %lld | %.3f | %.1f | %.1f | %.1f%% | %.1f%% |\n", (long long)num(p, "tokens"),
             num(p, "seconds"), num(p, "tok_s"), num(p, "gflops"), 100 * num(p, "mfu"),
             100 * num(p, "of_instruction_peak"));
  return s +
         "\nAs generate prefills a prompt: the KV cache of every position and the logits of the "
         "last. FLOPs = 2 x non-embedding weights x T + 2*D*V (the LM head, once) + causal "
         "attention 2*2*T^2/2*N*H*L.\n\n";
}

std::string attention(const Json& a) {
  return fmt("## Attention alone (one layer's heads, T = %lld, f32, flash-style)\n\n| pass | s | "
             "GFLOP/s | of the f32 matmul peak |\n| --- | ---: | ---: | ---: |\n",
             (long long)num(a, "T")) +
         fmt("| forward | %.3f | %.1f | %.0f%% |\n", num(a, "forward_s"), num(a, "forward_gflops"),
             100 * num(a, "of_peak_forward")) +
         fmt("| forward + backward | %.3f | %.1f | %.0f%% |\n", num(a, "forward_backward_s"),
             num(a, "forward_backward_gflops"), 100 * num(a, "of_peak_forward_backward")) +
         "\nFLOPs: forward 2*2*T^2/2*N*H (causal); the backward recomputes the scores and runs "
         "four more products, 2.5 forwards. Attention's share of a step's time stays within 2x "
         "of its share of the FLOPs while it runs at half the matmul rate or more.\n\n";
}

std::string tokenizer(const Json& texts) {
  std::string s =
      "## Tokenizer (encode, one thread)\n\n| file | MB | tokens | MB/s first pass | MB/s warm "
      "| M tok/s warm |\n| --- | ---: | ---: | ---: | ---: | ---: |\n";
  for (const Json& t : texts)
    s += fmt("| %s | %.3f | %lld | %.2f | %.2f | %.2f |\n", str(t, "file").c_str(), num(t, "mb"),
             (long long)num(t, "tokens"), num(t, "mb_s_first"), num(t, "mb_s"),
             num(t, "tok_s") / 1e6);
  return s + "\nfirst pass: an empty word cache; warm: the best of repeated passes.\n\n";
}

std::string train(const Json& rows) {
  std::string s =
      "## Training step (forward + backward + AdamW)\n\n| B x T | compute | recompute | s/step | "
      "tok/s | GFLOP/s | MFU (the compute dtype's matmul) | of the instruction peak |\n| ---: | "
      "--- | --- | ---: | ---: | ---: | ---: | ---: |\n";
  for (const Json& t : rows)
    s += fmt("| %lld x %lld | %s | %s | %.3f | %.1f | %.1f | %.1f%% | %.1f%% |\n",
             (long long)num(t, "batch"), (long long)num(t, "seq"), str(t, "compute").c_str(),
             t.at("recompute").get<bool>() ? "yes" : "no", num(t, "seconds"), num(t, "tok_s"),
             num(t, "gflops"), 100 * num(t, "mfu"), 100 * num(t, "of_instruction_peak"));
  return s +
         "\nFLOPs per token = 6 x matmul params + 3 x attention's forward (2*2*T/2*N*H*L) in both "
         "rows: recomputation is not counted (neither the layer forwards that purelm train "
         "--recompute runs again in the backward nor attention's scores in every backward), so "
         "MFU is of the model's FLOPs and recomputation shows as time. f32 master weights, as "
         "purelm train; bf16 compute rounds the matmul operands to bf16 (purelm train --dtype "
         "bf16).\n\n";
}

std::string mesh(const Json& x) {
  std::string s =
      fmt("## Mesh: tp %d x fsdp %d, %d processes (%d per machine), %d thread(s) each\n\n",
          int(num(x, "tp")), int(num(x, "fsdp")), int(num(x, "processes")),
          int(num(x, "processes_per_machine")), int(num(x, "threads_per_process"))) +
      fmt("Every process measured the machine limits at once: the table above holds the leader's "
          "share; summed over the processes, read %.1f GB/s, f32 %.1f and bf16 %.1f GFLOP/s.\n\n",
          num(x, "read_gbs_all_sum"), num(x, "f32_gflops_sum"), num(x, "bf16_gflops_sum")) +
      fmt("Decode and prefill: each of the %d TP group(s) (one per FSDP rank) runs its own rows, "
          "tok/s total counts all of them. ",
          int(num(x, "fsdp"))) +
      "Decode's MB read/step and bw util are one process's: bw util = the bytes it reads per step "
      "(its slice of the weights, gathered by FSDP, and of the KV cache) / s / its own read "
      "bandwidth measured while the others measured theirs. Prefill and training: GFLOP/s of the "
      "whole model's FLOPs (formulas below each table), MFU against the peak summed over the "
      "processes; the training batch B x T is the mesh's, split over the FSDP ranks as purelm "
      "train splits it.\n\n" +
      "### Collectives per step (the leader's; decode: per token step)\n\n| workload | axis | "
      "ms/step | ms in collectives | MB sent | of the step |\n| --- | --- | ---: | ---: | ---: | "
      "---: |\n";
  for (const Json& c : x.at("collectives"))
    s += fmt("| %s | %s | %.2f | %.2f | %.2f | %.0f%% |\n", str(c, "workload").c_str(),
             str(c, "axis").c_str(), num(c, "step_ms"), num(c, "collective_ms"), num(c, "mb_sent"),
             100 * num(c, "share"));
  s += "\nMeans over the timed runs (the tables above give the best run): the seconds inside the "
       "axis's MPI calls, waits for the other processes included, and the bytes this process "
       "sent, counted as the ring algorithms send them (dist/mesh.h).\n\n### Memory per "
       "process\n\n| rank | peak RSS MB | parameters MB | AdamW moments MB |\n| ---: | ---: | "
       "---: | ---: |\n";
  int rank = 0;
  for (const Json& m : x.at("memory"))
    s += fmt("| %d | %.1f | %.1f | %s |\n", rank++, num(m, "peak_rss_mb"), num(m, "param_mb"),
             m.contains("adamw_mb") ? fmt("%.1f", num(m, "adamw_mb")).c_str() : "-");
  return s + "\nPeak RSS: VmHWM since " + str(x, "peak_rss_since") +
         ". Parameters: what the process keeps (its TP slice, "
         "or its FSDP shard, float32 once trained); AdamW keeps two float32 moments per trained "
         "parameter.\n\n";
}

}  // namespace

std::string format_tables(const nlohmann::ordered_json& r) {
  std::string s =
      header(r) + machine(r.at("machine")) + decode(r.at("decode")) + prefill(r.at("prefills"));
  if (r.contains("attention")) s += attention(r.at("attention"));
  if (r.contains("train")) s += train(r.at("train"));
  if (r.contains("tokenizer")) s += tokenizer(r.at("tokenizer"));
  if (r.contains("mesh")) s += mesh(r.at("mesh"));
  return s;
}

}  // namespace purelm::bench

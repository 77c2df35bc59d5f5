// Writing HuggingFace checkpoint folders: weights streamed one tensor at a time (sharded with an
// index past 5 GB, as transformers does), the small files around them, and the atomic swap that
// puts a finished folder in place.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "purelm/models/model.h"

namespace purelm {

using FileSet = std::map<std::string, std::string>;  // file name -> contents

// The tokenizer files and generation_config.json that exist in `dir`, read into memory so a
// checkpoint can carry them even after the source folder is gone or replaced.
FileSet read_tokenizer_files(const std::string& dir);

void write_file(const std::string& path, std::string_view contents);  // flushed to disk

// Writes model.safetensors (or shards + model.safetensors.index.json) into `dir` with the tensors
// of `table` in `dtype`, or in the format `quantized` names for them (Q8, Q4: stored as U8 rows of
// their blocks, models/quantize.h). make(info) returns one tensor of info.shape (converted here if
// needed); it is written and released before the next is made, so at most one tensor exists at a
// time. progress(bytes_done, bytes_total) is called after each tensor.
void write_weights(const std::string& dir, const std::vector<WeightInfo>& table, DType dtype,
                   const std::function<Tensor(const WeightInfo&)>& make,
                   const std::function<void(int64_t, int64_t)>& progress = {},
                   const std::map<std::string, DType>& quantized = {});

// Writes a loaded model into the folder `dir` (one replace_folder is building): config.json, the
// float weights of its weight_table in the config's torch_dtype, the quantized ones as U8 rows, and
// `files`.
void write_model(const std::string& dir, const Model& m, const FileSet& files,
                 const std::function<void(int64_t, int64_t)>& progress = {});

// Builds a folder with fill(tmp) in a sibling DIR.tmp-* and swaps it in for `dir`, so that `dir`
// is always either absent, the previous complete folder, or the new one, never half-written.
// Refuses to replace a folder that holds files but no config.json (it is not a checkpoint).
void replace_folder(const std::string& dir,
                    const std::function<void(const std::string& tmp)>& fill);

}  // namespace purelm

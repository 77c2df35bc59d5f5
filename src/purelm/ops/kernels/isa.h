// Which instruction set the matrix kernels use. Chosen once from the CPU's features; tests force a
// lower level to cover every path on one machine.
#pragma once

namespace purelm::kernels {

// Ordered: each level implies the ones below it. Avx512Bf16 also has AVX512-VNNI (every CPU with
// AVX512-BF16 has it).
enum class Isa : int { Portable, Avx2, Avx512, Avx512Bf16 };

Isa best_isa();  // what this CPU supports
Isa isa();       // what the kernels use now
// Uses `level`, or the best supported level when the CPU lacks it; returns the level now in use.
Isa set_isa(Isa level);

const char* isa_name(Isa level);

}  // namespace purelm::kernels

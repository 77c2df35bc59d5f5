// The AVX2 decode kernel compiled for AVX-VNNI: one vpdpbusd in place of each vpmaddubsw +
// vpmaddwd (qgemv_avx2.cpp), the rest the same.
#define PURELM_QGEMV_AVXVNNI
#include "qgemv_avx2.cpp"  // NOLINT(bugprone-suspicious-include)

// The NEON decode kernel compiled for the dot-product extension: two sdot per block in place of
// vmull + vpadal (qgemv_neon.cpp), the rest the same.
#define PURELM_QGEMV_DOTPROD
#include "qgemv_neon.cpp"  // NOLINT(bugprone-suspicious-include)

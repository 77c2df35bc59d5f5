// Every op a model file composes; each has a forward and a recorded backward.
#pragma once

#include "purelm/ops/attention.h"
#include "purelm/ops/elementwise.h"
#include "purelm/ops/embedding.h"
#include "purelm/ops/loss.h"
#include "purelm/ops/matmul.h"
#include "purelm/ops/moe.h"
#include "purelm/ops/norm.h"
#include "purelm/ops/rope.h"

#include "purelm/train/step.h"

#include "purelm/ops/autograd.h"
#include "purelm/train/objective.h"
#include "purelm/train/optim.h"

namespace purelm {

Batch local_batch(Batch b, const DataParallel& dp) {
  b.ids = dp.rows(b.ids);
  b.targets = dp.rows(b.targets);
  b.counted = 0;
  for (int64_t i = 0; i < b.targets.numel(); ++i) b.counted += b.targets.data<int32_t>()[i] >= 0;
  return b;
}

double train_step(Model& m, DataParallel& dp, AdamW& opt, const std::vector<Batch>& micro,
                  double lr, double clip, uint64_t dropout_seed) {
  int64_t counted = 0;
  for (const Batch& b : micro) counted += b.counted;
  check(counted > 0, "a training step needs a target in its batches");
  opt.zero_grad();
  double loss_sum = 0;
  for (size_t i = 0; i < micro.size(); ++i) {
    if (micro[i].counted == 0) continue;  // the same decision on every process
    Batch b = local_batch(micro[i], dp);
    Tape tape;
    tape.seed(dropout_seed + i);
    Tensor loss = lm_loss(m, b.ids, b.targets);
    loss_sum += double(loss.item()) * double(b.counted);
    tape.backward(loss, Tensor::from_f32({float(double(b.counted) / double(counted))}, {1}));
  }
  loss_sum = dp.sum(loss_sum);
  dp.finish_grads();
  if (clip > 0) clip_grad_norm(opt.params(), clip, [&dp](double v) { return dp.sum_params(v); });
  opt.step(lr);
  dp.after_step();
  return loss_sum / double(counted);
}

}  // namespace purelm

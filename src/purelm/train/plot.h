// An SVG chart of the training and validation loss curves of a run (hand-written SVG: axes,
// ticks, two polylines, a legend), so a run can be judged in any browser.
#pragma once

#include <string>
#include <vector>

#include "purelm/train/history.h"

namespace purelm {

std::string loss_plot_svg(const std::vector<LogRow>& rows, const std::string& title);

}  // namespace purelm

#include "purelm/train/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <tuple>

namespace purelm {

namespace {

constexpr double kW = 800, kH = 480, kLeft = 70, kRight = 20, kTop = 40, kBottom = 50;
constexpr size_t kMaxPoints = 1000;  // the train curve is averaged down to this many points

struct Point {
  double x, y;
};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

// A tick spacing of 1, 2 or 5 times a power of ten giving about `n` ticks over `range`.
double tick_step(double range, int n) {
  double raw = range / n, mag = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

// Means of consecutive runs, so a long run's curve stays a readable (and small) polyline.
std::vector<Point> downsample(const std::vector<Point>& p) {
  if (p.size() <= kMaxPoints) return p;
  std::vector<Point> out;
  for (size_t i = 0; i < kMaxPoints; ++i) {
    size_t a = i * p.size() / kMaxPoints, b = (i + 1) * p.size() / kMaxPoints;
    Point m{0, 0};
    for (size_t j = a; j < b; ++j) m.x += p[j].x, m.y += p[j].y;
    out.push_back({m.x / double(b - a), m.y / double(b - a)});
  }
  return out;
}

}  // namespace

std::string loss_plot_svg(const std::vector<LogRow>& rows, const std::string& title) {
  std::vector<Point> train, val;
  for (const LogRow& r : rows) {
    if (std::isfinite(r.train_loss)) train.push_back({double(r.step), r.train_loss});
    if (std::isfinite(r.val_loss)) val.push_back({double(r.step), r.val_loss});
  }
  train = downsample(train);
  double x0 = 0, x1 = 1, y0 = INFINITY, y1 = -INFINITY;
  for (const auto* curve : {&train, &val})
    for (const Point& p : *curve)
      x1 = std::max(x1, p.x), y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
  if (!std::isfinite(y0)) y0 = 0, y1 = 1;
  double pad = std::max(0.05 * (y1 - y0), 1e-3);
  y0 = std::max(0.0, y0 - pad), y1 += pad;
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  auto sx = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * pw; };
  auto sy = [&](double y) { return kTop + (1 - (y - y0) / (y1 - y0)) * ph; };

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", kW) +
                    "\" height=\"" + fmt("%.0f", kH) +
                    "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + fmt("%.0f", kW / 2) +
         "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" + xml_escape(title) + "</text>\n";
  // Grid lines and tick labels.
  double xs = tick_step(x1 - x0, 8), ys = tick_step(y1 - y0, 6);
  for (double x = std::ceil(x0 / xs) * xs; x <= x1 + 1e-9; x += xs) {
    svg += "<line x1=\"" + fmt("%.1f", sx(x)) + "\" y1=\"" + fmt("%.1f", kTop) + "\" x2=\"" +
           fmt("%.1f", sx(x)) + "\" y2=\"" + fmt("%.1f", kTop + ph) + "\" stroke=\"#e5e5e5\"/>\n";
    svg += "<text x=\"" + fmt("%.1f", sx(x)) + "\" y=\"" + fmt("%.1f", kTop + ph + 18) +
           "\" text-anchor=\"middle\">" + fmt("%g", x) + "</text>\n";
  }
  for (double y = std::ceil(y0 / ys) * ys; y <= y1 + 1e-9; y += ys) {
    svg += "<line x1=\"" + fmt("%.1f", kLeft) + "\" y1=\"" + fmt("%.1f", sy(y)) + "\" x2=\"" +
           fmt("%.1f", kLeft + pw) + "\" y2=\"" + fmt("%.1f", sy(y)) + "\" stroke=\"#e5e5e5\"/>\n";
    svg += "<text x=\"" + fmt("%.1f", kLeft - 6) + "\" y=\"" + fmt("%.1f", sy(y) + 4) +
           "\" text-anchor=\"end\">" + fmt("%g", y) + "</text>\n";
  }
  // Axes and their labels.
  svg += "<rect x=\"" + fmt("%.1f", kLeft) + "\" y=\"" + fmt("%.1f", kTop) + "\" width=\"" +
         fmt("%.1f", pw) + "\" height=\"" + fmt("%.1f", ph) +
         "\" fill=\"none\" stroke=\"black\"/>\n";
  svg += "<text x=\"" + fmt("%.1f", kLeft + pw / 2) + "\" y=\"" + fmt("%.1f", kH - 10) +
         "\" text-anchor=\"middle\">step</text>\n";
  svg += "<text transform=\"translate(16," + fmt("%.1f", kTop + ph / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">loss (nats/token)</text>\n";
  // The curves, then the legend.
  auto polyline = [&](const std::vector<Point>& c, const char* color) {
    std::string pts;
    for (const Point& p : c) pts += fmt("%.1f", sx(p.x)) + "," + fmt("%.1f", sy(p.y)) + " ";
    svg += "<polyline fill=\"none\" stroke=\"" + std::string(color) +
           "\" stroke-width=\"1.5\" points=\"" + pts + "\"/>\n";
  };
  polyline(train, "#1f77b4");
  polyline(val, "#ff7f0e");
  for (const Point& p : val)
    svg += "<circle cx=\"" + fmt("%.1f", sx(p.x)) + "\" cy=\"" + fmt("%.1f", sy(p.y)) +
           "\" r=\"3\" fill=\"#ff7f0e\"/>\n";
  double lx = kLeft + pw - 130, ly = kTop + 12;
  for (auto [label, color, dy] :
       {std::tuple{"train loss", "#1f77b4", 0.0}, std::tuple{"validation loss", "#ff7f0e", 18.0}}) {
    svg += "<line x1=\"" + fmt("%.1f", lx) + "\" y1=\"" + fmt("%.1f", ly + dy) + "\" x2=\"" +
           fmt("%.1f", lx + 24) + "\" y2=\"" + fmt("%.1f", ly + dy) + "\" stroke=\"" + color +
           "\" stroke-width=\"2\"/>\n";
    svg += "<text x=\"" + fmt("%.1f", lx + 30) + "\" y=\"" + fmt("%.1f", ly + dy + 4) + "\">" +
           label + "</text>\n";
  }
  return svg + "</svg>\n";
}

}  // namespace purelm

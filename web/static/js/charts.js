/* Charts of the statistics page (ECharts, from web/static/vendor/, copied there by `make charts`).
   The figures come from the page itself (#stats-data); the tables beside them stay the reference. */
(function () {
  "use strict";
  var source = document.getElementById("stats-data");
  if (!source) return;
  var data = JSON.parse(source.textContent);
  var L = data.labels;
  var FONT = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif';
  var COLORS = ["#b42318", "#0969da", "#1a7f37", "#9a6700", "#8250df", "#656d76"];
  var ids = ["chart-units", "chart-classes", "chart-satisfaction"];

  if (typeof window.echarts === "undefined") {
    ids.forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { el.innerHTML = '<p class="muted"></p>'; el.firstChild.textContent = L.missing; el.style.height = "auto"; }
    });
    return;
  }
  var base = { textStyle: { fontFamily: FONT }, color: COLORS, tooltip: {}, animation: false };
  var charts = [];

  function draw(id, option) {
    var el = document.getElementById(id);
    if (!el) return;
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(Object.assign({}, base, option));
    charts.push(chart);
  }

  var narrow = window.matchMedia("(max-width: 760px)").matches;
  var open = data.lead.map(function (n, i) { return n - data.replied[i]; });
  draw("chart-units", {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { top: 0, textStyle: { fontFamily: FONT } },
    grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", inverse: true, data: data.units,
             axisLabel: { fontFamily: FONT, width: narrow ? 84 : 150, overflow: "truncate" } },
    series: [
      { name: L.replied, type: "bar", stack: "lead", data: data.replied },
      { name: L.open, type: "bar", stack: "lead", data: open },
      { name: L.co, type: "bar", data: data.co }
    ]
  });

  var classes = Object.keys(data.classes).map(function (c) { return { name: c, value: data.classes[c] }; });
  draw("chart-classes", {
    tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
    legend: { bottom: 0 },
    series: [{ type: "pie", radius: ["30%", "72%"], percentPrecision: 0, data: classes,
               label: { position: "inside", formatter: "{b}\n{d}%", color: "#fff", fontFamily: FONT, fontWeight: 600 } }]
  });

  var verdicts = ["satisfied", "basically_satisfied", "unsatisfied", "no_opinion"];
  draw("chart-satisfaction", {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { top: 0 },
    grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
    xAxis: { type: "category", data: verdicts.map(function (v) { return L[v]; }), axisLabel: { fontFamily: FONT } },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: L.first, type: "bar", data: verdicts.map(function (v) { return data.first[v] || 0; }) },
      { name: L.final, type: "bar", data: verdicts.map(function (v) { return data.final[v] || 0; }) }
    ]
  });

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();

/* The analytics page's charts (ECharts, vendored), drawn from the page's own data
   (#analytics-data); every chart's data is also a table on the page and a CSV. */
(function () {
  "use strict";
  var source = document.getElementById("analytics-data");
  if (!source || !window.echarts) { return; }
  var page = JSON.parse(source.textContent), data = page.data, words = page.labels;
  var percent = function (v) { return v == null ? "—" : (v * 100).toFixed(1) + " %"; };
  var rateAxis = { type: "value", axisLabel: { formatter: percent } };
  var rates = function (rows) { return rows.map(function (r) { return r.rate; }); };
  var bars = function (rows, key) {
    return {
      tooltip: { trigger: "axis", valueFormatter: percent },
      grid: { left: 8, right: 16, bottom: 8, top: 16, containLabel: true },
      xAxis: { type: "category", data: rows.map(function (r) { return r[key]; }),
               axisLabel: { interval: 0, rotate: rows.length > 8 ? 30 : 0 } },
      yAxis: rateAxis,
      series: [{ name: words.rate, type: "bar", data: rates(rows), barMaxWidth: 48,
                 itemStyle: { color: "#0b5cad" } }]
    };
  };
  var options = {
    trend: function (rows) {
      var periods = rows.map(function (r) { return r.period; });
      return {
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        grid: { left: 8, right: 8, bottom: 8, top: 36, containLabel: true },
        xAxis: { type: "category", data: periods },
        yAxis: [{ type: "value" }, rateAxis],
        series: [
          { name: words.sold, type: "bar", barMaxWidth: 24, itemStyle: { color: "#9db7d5" },
            data: rows.map(function (r) { return r.sold; }) },
          { name: words.returned, type: "bar", barMaxWidth: 24, itemStyle: { color: "#a12622" },
            data: rows.map(function (r) { return r.returned; }) },
          { name: words.rate, type: "line", yAxisIndex: 1, data: rates(rows), itemStyle: { color: "#14213d" },
            tooltip: { valueFormatter: percent } }
        ]
      };
    },
    reasons: function (rows) {
      return {
        tooltip: { trigger: "item", formatter: "{b}: {c} ({d} %)" },
        series: [{ type: "pie", radius: ["35%", "70%"],
                   data: rows.map(function (r) { return { name: r.reason, value: r.returns }; }) }]
      };
    },
    skus: function (rows) { return bars(rows, "sku"); },
    suppliers: function (rows) { return bars(rows, "supplier"); },
    regions: function (rows) { return bars(rows, "province"); }
  };
  var charts = [];
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var name = el.getAttribute("data-chart");
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption(Object.assign({ animation: false, aria: { enabled: true } }, options[name](data[name])));
    el.setAttribute("data-drawn", "yes");
    charts.push(chart);
  });
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
}());

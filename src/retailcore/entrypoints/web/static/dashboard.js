/* The dashboard's charts, drawn with the vendored Chart.js from the page's JSON block (#dashboard-data):
   no inline script runs (the Content-Security-Policy forbids it). Each canvas says which series it draws
   (data-chart) and how (data-kind); once drawn it carries data-points, the number of points or bars. */
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("dashboard-data");
    if (!source || typeof window.Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var colours = { net_sales: "#0b4f8a", gross_margin: "#1e6b32" };
    var names = { net_sales: "Net sales", gross_margin: "Gross margin" };
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var series = data[canvas.dataset.chart];
      if (!series) { return; }
      var kind = canvas.dataset.kind === "line" ? "line" : "bar";
      var chart = new window.Chart(canvas, {
        type: kind,
        data: {
          labels: series.labels,
          datasets: ["net_sales", "gross_margin"].map(function (key) {
            return {
              label: names[key],
              data: series[key].map(Number),
              borderColor: colours[key],
              backgroundColor: colours[key],
              pointRadius: 3
            };
          })
        },
        options: {
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          plugins: { legend: { position: "bottom" } },
          scales: { y: { beginAtZero: true } }
        }
      });
      var points = 0;
      chart.data.datasets.forEach(function (dataset, index) {
        points += chart.getDatasetMeta(index).data.length;
      });
      canvas.dataset.points = String(points);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();

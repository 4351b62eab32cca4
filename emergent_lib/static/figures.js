// Draws the interactive figures of emergent_lib.interactive with Plotly, in the browser.
// Each figure carries every view the build computed (JSON, keyed by the values of its
// controls joined with "|"); a control switches views. Without this script, or without
// Plotly, the figure's static image stays where it is.
(function () {
  "use strict";

  function control(spec, value, onChange) {
    var label = document.createElement("label");
    label.className = "emergent-control";
    label.appendChild(document.createTextNode(spec.label + " "));
    var input;
    if (spec.kind === "range") {
      input = document.createElement("input");
      input.type = "range";
      input.min = 0;
      input.max = spec.options.length - 1;
      input.step = 1;
      var shown = document.createElement("output");
      var index = spec.options.findIndex(function (o) { return o[0] === value; });
      input.value = index < 0 ? 0 : index;
      shown.textContent = spec.options[input.value][1];
      input.addEventListener("input", function () {
        shown.textContent = spec.options[input.value][1];
        onChange(spec.options[input.value][0]);
      });
      label.appendChild(input);
      label.appendChild(shown);
    } else {
      input = document.createElement("select");
      spec.options.forEach(function (o) {
        input.appendChild(new Option(o[1], o[0], false, o[0] === value));
      });
      input.addEventListener("change", function () { onChange(input.value); });
      label.appendChild(input);
    }
    input.name = spec.name;
    return label;
  }

  function mount(root) {
    var spec = JSON.parse(root.querySelector("script.emergent-figure-data").textContent);
    var bar = root.querySelector(".emergent-controls");
    var plot = root.querySelector(".emergent-plot");
    var state = spec.initial.slice();
    var config = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

    function draw() {
      var view = spec.views[state.join("|")];
      if (typeof view === "string") view = spec.views[view];  // an identical view, stored once
      Plotly.react(plot, view.data, view.layout, config);
    }

    spec.controls.forEach(function (c, i) {
      bar.appendChild(control(c, state[i], function (value) { state[i] = value; draw(); }));
    });
    plot.textContent = "";  // the static image gives way to the drawn figure
    root.classList.add("emergent-figure-live");
    draw();
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.Plotly) return;
    document.querySelectorAll(".emergent-figure").forEach(mount);
  });
})();

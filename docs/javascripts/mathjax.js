// MathJax 3 set up for pymdownx.arithmatex in generic mode: typeset only the elements that
// arithmatex marked (class "arithmatex"), so "\(" in ordinary prose or code is left alone.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};

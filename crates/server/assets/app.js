// compliance-server pages: the pages work without this script. It only submits a
// filter form as soon as one of its choices marked data-autosubmit changes, so a
// reader need not press the button.
"use strict";
document.addEventListener("change", function (event) {
  var target = event.target;
  if (target && target.hasAttribute && target.hasAttribute("data-autosubmit") && target.form) {
    target.form.submit();
  }
});

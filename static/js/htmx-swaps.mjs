// Content swapped in by htmx gets its GOV.UK Frontend behaviour, as the page's got it at load
// (init.mjs): a notification banner with role="alert" or an error summary then takes the focus,
// so keyboard and screen-reader users land on what just happened. No inline script (CSP).
import { initAll } from '../vendor/govuk-frontend/govuk-frontend.min.js'

document.addEventListener('htmx:load', (event) => {
  const scope = event.target
  // The page itself fires htmx:load once at start: init.mjs has initialised it already.
  if (scope instanceof HTMLElement && scope !== document.body) {
    initAll({ scope })
  }
})

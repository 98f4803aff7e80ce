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

// A polled part (data-portal-poll) keeps what it shows when its poll is refused (the user
// signed out, or may no longer see the object): an error page never replaces it.
document.addEventListener('htmx:beforeSwap', (event) => {
  const source = event.detail.requestConfig && event.detail.requestConfig.elt
  if (source instanceof HTMLElement && source.hasAttribute('data-portal-poll') &&
      event.detail.xhr.status >= 300) {
    event.detail.shouldSwap = false
  }
})

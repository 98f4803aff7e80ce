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
// signed out, or may no longer see the object): an error page never replaces it, nor does
// the page a redirect led to (the sign-in page, once the session has ended).
function redirected (xhr, requestConfig) {
  if (!xhr.responseURL || !requestConfig || !requestConfig.path) return false
  const asked = new URL(requestConfig.path, window.location.href).pathname
  return new URL(xhr.responseURL).pathname !== asked
}

document.addEventListener('htmx:beforeSwap', (event) => {
  const config = event.detail.requestConfig
  const source = config && config.elt
  if (source instanceof HTMLElement && source.hasAttribute('data-portal-poll') &&
      (event.detail.xhr.status >= 300 || redirected(event.detail.xhr, config))) {
    event.detail.shouldSwap = false
  }
})

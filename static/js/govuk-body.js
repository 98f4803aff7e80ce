// Runs first in <body>: the GOV.UK Frontend hook for styles that need JavaScript (no inline script, CSP).
document.body.className += ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? ' govuk-frontend-supported' : '');

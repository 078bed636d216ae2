// portal's GraphiQL page. Everything it loads comes from this server (no CDN).
//
// Two ways to authenticate, as for any client:
// - an API token in the Headers tab: {"Authorization": "Bearer ptk_…"};
// - the session bar: `login` sets the HttpOnly session cookie and returns the CSRF token,
//   which every request then sends as X-CSRF-Token. After a reload the page asks
//   GET /csrf-token for the token of the cookie's session (readable only by this origin).
(function () {
  "use strict";

  var root = document.getElementById("graphiql");
  var config = root.dataset;
  var state = document.getElementById("portal-session-state");
  var loginForm = document.getElementById("portal-login");
  var logoutButton = document.getElementById("portal-logout");
  var ACCEPT = "application/graphql-response+json, application/json;q=0.9";
  var LOGIN =
    "mutation Login($input: LoginInput!) {\n" +
    "  login(input: $input) { user { email role } csrfToken userErrors { field code message } }\n" +
    "}\n";
  var LOGOUT = "mutation Logout { logout { ok } }\n";
  var DEFAULT_QUERY =
    "# portal GraphiQL. Authenticate with an API token in the Headers tab below:\n" +
    '#   {"Authorization": "Bearer ptk_…"}\n' +
    "# or sign in above with an e-mail and a password (session cookie).\n" +
    "# The Docs pane (the book icon on the left) describes every type and field.\n" +
    "query Viewer {\n" +
    "  viewer {\n" +
    "    user { email role }\n" +
    "  }\n" +
    "}\n";
  var csrfToken = null;
  // Settles when the session (and so the CSRF token) is known: GraphiQL's own requests wait for
  // it, or a request with the cookie but without the token would be refused (403).
  var sessionKnown = Promise.resolve();

  function post(body, headers) {
    var all = Object.assign({}, headers || {}, {
      "Content-Type": "application/json",
      Accept: ACCEPT,
    });
    if (csrfToken) {
      all["X-CSRF-Token"] = csrfToken;
    }
    return fetch(config.endpoint, {
      method: "POST",
      credentials: "same-origin",
      headers: all,
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json();
    });
  }

  // A trusted document id when the server has one (PORTAL_TRUSTED_DOCUMENTS_ONLY), else the text.
  function operation(documentId, text, variables) {
    return documentId ? { documentId: documentId, variables: variables } : { query: text, variables: variables };
  }

  function showSignedIn(user) {
    state.textContent =
      "Signed in as " + user.email + " (" + user.role + ") with a session cookie; " +
      "requests send its X-CSRF-Token.";
    state.className = "";
    loginForm.hidden = true;
    logoutButton.hidden = false;
  }

  function showSignedOut(message, isError) {
    state.textContent =
      message || 'Not signed in: put {"Authorization": "Bearer ptk_…"} in the Headers tab, or sign in.';
    state.className = isError ? "portal-error" : "";
    loginForm.hidden = false;
    logoutButton.hidden = true;
  }

  function loadSession() {
    return fetch(config.csrfEndpoint, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (response.ok && body.csrfToken) {
            csrfToken = body.csrfToken;
            showSignedIn(body.user);
          } else {
            csrfToken = null;
            showSignedOut();
          }
        });
      })
      .catch(function () {
        showSignedOut("The session could not be checked.", true);
      });
  }

  function signInFailed(problem) {
    csrfToken = null;
    showSignedOut("Sign-in failed: " + problem, true);
  }

  loginForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var input = { email: loginForm.email.value, password: loginForm.password.value };
    sessionKnown = post(operation(config.loginDocumentId, LOGIN, { input: input }))
      .then(function (body) {
        var login = body.data && body.data.login;
        if (login && login.userErrors.length === 0) {
          csrfToken = login.csrfToken;
          loginForm.password.value = "";
          showSignedIn(login.user);
        } else {
          signInFailed(login ? login.userErrors[0].message : body.errors[0].message);
        }
      })
      .catch(function (error) {
        signInFailed(String(error));
      });
  });

  logoutButton.addEventListener("click", function () {
    sessionKnown = post(operation(config.logoutDocumentId, LOGOUT, {}))
      .catch(function () {
        // the session is gone from this page either way
      })
      .then(function () {
        csrfToken = null;
        showSignedOut();
      });
  });

  function fetcher(params, options) {
    return sessionKnown.then(function () {
      return post(params, options && options.headers);
    });
  }

  sessionKnown = loadSession();
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    }),
  );
})();

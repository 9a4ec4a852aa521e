/**
 * The dashboard's HTML page, a placeholder until the page itself arrives
 * (issue 6). Served with a strict Content-Security-Policy, so it holds no inline
 * script or style.
 *
 * @module
 */

import { VERSION } from "../version.ts";

/** The placeholder page. */
export const PLACEHOLDER_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Koi dashboard</title>
</head>
<body>
<h1>Koi dashboard</h1>
<p>The dashboard page arrives with issue 6. The server's JSON API under <code>/api/</code> works now.</p>
<p><small>Koi ${VERSION}</small></p>
</body>
</html>
`;

import { parseKoitab } from "../lib/koitab.ts";
import {
  formatKoitabWarning,
  koitabWarnings,
  type WarningContext,
} from "../lib/koitab_warnings.ts";
import { assertEquals } from "./_assert_koitab.ts";

/** A machine with the users of a Debian server, where mysql and backup are also commands. */
const DEBIAN: WarningContext = {
  isUser: (name) => ["root", "www-data", "backup", "mysql", "mail", "nobody"].includes(name),
  isCommand: (name, path) =>
    path.split(":").includes("/usr/bin") && ["mysql", "backup", "php"].includes(name),
  owner: "alice",
  defaultPath: "/usr/bin:/bin:/usr/sbin:/sbin",
};

/** The warnings of a table that must parse without errors, as koitab prints them. */
function warningsOf(text: string, context = DEBIAN): string[] {
  const { jobs, errors } = parseKoitab(text);
  assertEquals(errors, []);
  return koitabWarnings(jobs, context).map(formatKoitabWarning);
}

const USER_COLUMN = (line: number, user: string) =>
  `koitab line ${line}: warning: "${user}" is a user, not a command: this line is written for /etc/crontab, with a user column; a koitab's jobs run as alice, so remove "${user}"`;

Deno.test("koitabWarnings() warns of a user column, as in /etc/crontab, with the line and the fix", () => {
  // Debian's /etc/crontab and lines from real system crontabs.
  const table = `SHELL=/bin/sh
17 *	* * *	root    cd / && run-parts --report /etc/cron.hourly
25 6	* * *	root	test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )
0 3 * * * root /usr/sbin/backup
*/5 * * * * www-data php /var/www/cron.php
@reboot nobody /usr/local/bin/start
`;
  assertEquals(warningsOf(table), [
    USER_COLUMN(2, "root"),
    USER_COLUMN(3, "root"),
    USER_COLUMN(4, "root"),
    USER_COLUMN(5, "www-data"),
    USER_COLUMN(6, "nobody"),
  ]);
});

Deno.test("koitabWarnings() sees no user column where the user name is a command, or no command follows it", () => {
  const table = `0 4 * * * mysql -e "FLUSH LOGS"
0 5 * * * backup /usr/bin/rsync -a /srv /b
0 6 * * * mail -s "disk" root < /tmp/df
0 7 * * * /usr/sbin/backup
0 8 * * * backup.sh
PATH=/opt/bin
0 9 * * * backup /usr/bin/rsync -a /srv /b
`;
  // Only where backup is no command (PATH=/opt/bin) is it taken for a user column.
  assertEquals(warningsOf(table), [USER_COLUMN(7, "backup")]);
});

const PERCENT = (line: number, text: string, why: string) =>
  `koitab line ${line}: warning: cron ends the command at the first "%" of "${text}" (${why}) and sends the rest as its input: write \\% for each literal %`;

Deno.test("koitabWarnings() warns of a % that cuts a date format, a quote or $(…), with the fix", () => {
  const table = `5 0 * * * date +%Y-%m-%d >> /var/log/stamp
0 1 * * * tar czf /b/x-$(date +%F).tgz /srv
0 2 * * * find /tmp -printf '%p\\n' > /tmp/list
0 3 * * * mysqldump db > /b/db-\`date +%d\`.sql
0 4 * * * curl "https://example.com/?q=a%20b"
0 5 * * * /usr/bin/php /srv/app/artisan schedule:run >> /var/log/app/$(date +%Y-%m-%d)-cron.log 2>&1
`;
  assertEquals(warningsOf(table), [
    PERCENT(1, "date +%Y-%m-%d >> /var/log/stamp", "a date format"),
    PERCENT(2, "tar czf /b/x-$(date +%F).tgz /srv", "inside $(…)"),
    PERCENT(3, "find /tmp -printf '%p\\n' > /tmp/list", "inside a '…' quote"),
    PERCENT(4, "mysqldump db > /b/db-`date +%d`.sql", "inside `…`"),
    PERCENT(5, 'curl "https://example.com/?q=a%20b"', 'inside a "…" quote'),
    PERCENT(6, "…:run >> /var/log/app/$(date +%Y-%m-%d)-cron.log 2>&1", "inside $(…)"),
  ]);
});

Deno.test("koitabWarnings() takes a % that cuts a command cleanly as meant: cron's way to give input", () => {
  const table = `0 9 * * 1 mail -s "Standup" team%Time for standup.%Bring coffee.
0 9 * * * date +\\%F > /tmp/today
0 9 * * * echo 100\\% done
`;
  assertEquals(warningsOf(table), []);
});

Deno.test("koitabWarnings() gives one warning per line, the user column first", () => {
  assertEquals(warningsOf("0 3 * * * root /bin/date +%F\n"), [USER_COLUMN(1, "root")]);
});

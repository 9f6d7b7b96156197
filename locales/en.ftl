# licd's messages in English. Every message here has a twin in zh-CN.ftl (a test checks).
# Times are formatted by licd (UTC for English) and passed in as text.

## Shared

lang-switch = 简体中文

## The customer portal

portal-name = License portal
portal-sign-out = Sign out
portal-back = Back to your license
portal-cancel = Cancel: change nothing
portal-message-title = That did not work

portal-login-title = Sign in to your license
portal-login-intro = Sign in with what you already have from your purchase:
portal-login-token = the license file (or its text) the seller sent you: it opens the whole license;
portal-login-code = or the activation code (License 2.0) from the marketplace: it opens the whole license;
portal-login-device = or the license installed on one machine: it opens that machine's seat only.
portal-login-field = License or activation code
portal-login-file = or the license file
portal-login-button = Sign in
portal-login-privacy = Nothing you paste is stored or logged. You are signed out after an hour.
portal-signed-out = You are signed out.
portal-ended = Your sign-in ended: { $reason }

portal-error-not-opened = That is not a license or activation code this server issued, or it was replaced since. Paste the license as the seller sent it, or the activation code from the marketplace.
portal-error-login-csrf = The sign-in form expired or did not come from this page. Try again.
portal-error-session = You are not signed in, or your sign-in expired: nothing was changed. Sign in again.
portal-error-csrf = This form did not come from your portal page (missing or wrong security token): nothing was changed.
portal-error-too-many = Too many sign-in attempts from your network. Try again in { $seconds } seconds.
portal-error-no-seat = This sign-in does not open that seat, or the seat is already free.

portal-home-title = Your license
portal-license-id = License
portal-product = Product
portal-edition = Edition
portal-status = Status
portal-status-active = Active
portal-status-frozen = Frozen
portal-status-expired = Expired
portal-status-released = Revoked
portal-valid-from = Valid from
portal-valid-until = Valid until
portal-perpetual = Perpetual (no end date)
portal-freeze-explained = When the license ends without a renewal it is frozen: the software keeps working for { $days } more days, until { $until }, so you have time to renew on the marketplace.
portal-scope-device = You signed in with the license of one machine: you see and manage that machine's seat only. Sign in with the license file the seller sent or with the activation code to see every seat.

portal-seats = Seats (machines)
portal-seats-count = { $count ->
    [one] { $count } seat
   *[other] { $count } seats
}
portal-seats-summary = { $held } of { $sold } seats in use.
portal-no-seats = No machine has activated this license yet.
portal-col-seat = Seat
portal-col-how = Activated
portal-col-taken = Since
portal-col-seen = Last reported
portal-col-state = State
portal-how-online = online
portal-how-online-transfer = online, as a transfer
portal-how-offline = offline (request and license file)
portal-how-offline-transfer = offline, as a transfer
portal-not-recorded = not recorded
portal-in-use = in use
portal-free-link = Free this seat
portal-freed-at = freed { $at }
portal-transfers = Device transfers in the last 365 days: { $used } of { $limit } used, { $left } left.
portal-freed-notice = Seat { $seat } is free: another machine can be activated with it.
portal-freed-own = Seat { $seat } is free, and you are signed out: the license that opened this page no longer works on that machine.

portal-devices = Devices
portal-devices-help = Devices of an online-activation instance are managed by the marketplace: each device signs in here with its own license.
portal-device-retired = retired

portal-leases = Floating seats in use
portal-no-leases = No floating seat is in use now.
portal-col-instance = Program
portal-col-lease-until = Until
portal-borrowed = borrowed for offline use
portal-sites = Site servers
portal-col-site = Site
portal-col-seats = Seats

portal-actions = What you can do
portal-download-link = Download your license file
portal-exchange-link = Activate or free a machine without internet access

portal-free-title = Free seat { $seat }?
portal-free-what = Seat { $seat }, activated { $taken }, becomes free.
portal-free-stops = The license on that machine stops working: it goes on the revocation list the software checks. Use this when the machine was replaced, reinstalled or lost.
portal-free-transfer = Activating a machine on the free seat then counts as a device transfer: { $used } of { $limit } this year.
portal-free-no-transfers = No device transfer is left this year ({ $used } of { $limit } used): the seat cannot be freed now. Ask the seller if a machine was lost.
portal-free-own-seat = This is the seat of the machine you signed in with: you are signed out afterwards.
portal-free-button = Free the seat

portal-download-title = Download your license file
portal-download-unbound = This is the license the seller issued, at its newest validity. Install it in the software on a machine, which then activates a seat.
portal-download-bound = This is the license of the machine you signed in with, at its newest validity: it works on that machine only.
portal-download-install = Keep the file private: whoever has it can activate a seat.
portal-download-button = Download
portal-no-file = There is no license file to download for this sign-in (a license bought with an activation code is activated in the software itself).

portal-exchange-title = Machines without internet access
portal-exchange-for = For license { $license }.
portal-exchange-activate = Activate a machine
portal-exchange-activate-help = The software on the machine shows an activation request that starts with lor1., or saves it to a file. Paste it or choose the file, then install the license file you get on that machine.
portal-exchange-request = Activation request
portal-exchange-or-file = or its file
portal-exchange-activate-button = Get the license
portal-exchange-activated = Seat { $seat } is activated for that machine. Install the license below on it.
portal-exchange-download = Download the license file
portal-exchange-token = License for that machine
portal-exchange-return = Free a machine's seat
portal-exchange-return-help = When you move the software, it gives a deactivation receipt that starts with ldr1.. Paste it or choose its file.
portal-exchange-receipt = Deactivation receipt
portal-exchange-return-button = Free the seat
portal-exchange-deactivated = Seat { $seat } is free. Device transfers this year: { $used } of { $limit }.
portal-exchange-whole-only = Only a sign-in with the license file the seller sent or with the activation code can activate machines.

## Sentences for API errors (message_zh in /v1 error bodies; refusals on pages)

error-other = The request could not be completed.
error-already_deactivated = This seat was given back already.
error-code_incomplete = The purchase behind this code is being completed by the seller; try again later.
error-expired = The license or lease has expired.
error-frozen = The license is frozen: renew it on the marketplace.
error-internal = Something went wrong on the license server; try again later.
error-invalid = The request is not valid.
error-invalid_code = This is not a valid activation code.
error-marketplace_license = This license was sold on the marketplace: its validity follows the marketplace's renewals and cannot be extended by hand.
error-not_activated = This activation code has not been activated on the marketplace.
error-not_delivered = The order behind this activation code has not been delivered yet.
error-not_found = No such license, seat or record.
error-refused = The marketplace refused this activation code.
error-released = The license has been released: it no longer works.
error-revoked = The license or this device's seat has been revoked.
error-seats_taken = Every seat of this license is in use.
error-superseded = This license was replaced by a newer one: use the newest license file.
error-too_large = The request is too large.
error-too_many_requests = Too many requests; wait a moment and try again.
error-transfers_exhausted = No device transfer is left this year.
error-unauthorized = Not signed in, or the credentials are wrong.
error-unavailable = The license server is busy or unavailable; try again later.
error-unknown_code = This activation code is not known.

## The offline activation page (/activate)

activate-title = License activation
activate-done-title = Activated
activate-done-new = This machine now holds seat { $seat } of license { $license }.
activate-done-again = This machine already holds seat { $seat } of license { $license }: here is its license again, with the newest validity.
activate-done-transfer = Taking this seat counted as a device transfer.
activate-done-install = Install the license on the machine: download the file, or copy the text below into the application.
activate-download = Download the license file
activate-token = License for this machine
activate-another = Activate another machine
activate-back = Back
activate-site-title = Site allotment
activate-site-allotted = The site server may lease { $seats ->
    [one] { $seats } seat
   *[other] { $seats } seats
} of license { $license } until { $until }.
activate-site-renewed = This renews the site's allotment; the one before no longer counts.
activate-site-install = Install it on the site server: download the file and start licd site serve --allotment FILE with it. Make a new request with licd site init before the date above.
activate-site-download = Download the allotment file
activate-site-allotment = Allotment
activate-site-returned-title = Site seats given back
activate-site-returned = The site's { $seats ->
    [one] { $seats } seat
   *[other] { $seats } seats
} of license { $license } are free from { $at }, when the last lease it signed ends.
activate-site-returned-again = Nothing changed: this site gave these seats back already.
activate-returned-title = Seat given back
activate-returned = Seat { $seat } of license { $license } is free: another machine can be activated with it.
activate-returned-transfers = Device transfers in the last 365 days: { $used } of { $limit }.
activate-error-title = That did not work
activate-offline-title = Activate a machine without internet access
activate-offline-help = Your application shows an activation request that starts with lor1., or saves it to a file. Paste it or choose the file, then download the license file and install it on that machine.
activate-request = Activation request
activate-or-file = or its file
activate-button = Get the license
activate-site-server-title = A site license server
activate-site-server-help = A site server (licd site init) prints a request that starts with lsr1.: paste it in the activation request box above to get its allotment file. Its receipt (lsd1., from licd site release) goes in the box below to give the site's seats back.
activate-return-title = Give a seat back
activate-return-help = When you move the software to another machine, the application gives a deactivation receipt that starts with ldr1.. Paste it or choose its file to free the seat.
activate-receipt = Deactivation receipt
activate-return-button = Free the seat
activate-portal-hint = A machine lost or replaced, and no receipt?
activate-portal-link = Sign in to your license to free its seat.

## The web console (admin listener, /console/)

console-name = licd console
console-brand = licd
console-nav = Main
console-dashboard = Dashboard
console-licenses = Licenses
console-outbox = Outbox
console-products = Products
console-marketplace = Marketplace
console-sign-in = Sign in
console-sign-out = Sign out
console-back = Back
console-cancel = Cancel
console-refused = Refused
console-login-name = Your name (recorded in the audit log)
console-login-token = Admin token (the daemon's data/admin.token)
console-error-form = The form was not readable.
console-error-login-csrf = The sign-in form expired or did not come from this console. Try again.
console-error-name = Give your name: the audit log records who acted.
console-error-token = Wrong admin token.
console-error-session = You are not signed in (or the session expired): nothing was changed.
console-error-csrf = This form did not come from the console page it should have (missing or wrong CSRF token): nothing was changed.

console-status-active = active
console-status-frozen = frozen
console-status-released = released
console-by-status = Licenses by status
console-col-status = Status
console-col-licenses = Licenses
console-expiring = Expiring in the next 30 days
console-licenses-unit = license(s)
console-col-day = Day (UTC)
console-outbox-summary = { $pending } pending, { $dead } dead letter(s)
console-outbox-dead-help = (calls the marketplace refused; retry them once the cause is fixed)
console-webhooks = Webhooks
console-webhooks-help = Every event of the log goes, signed, to these endpoints; licctl webhooks list says more.
console-col-endpoint = Endpoint
console-col-behind = Events behind
console-col-last-error = Last error
console-webhook-ok = delivering
console-webhook-new = starting
console-webhook-retrying = retrying since { $since }
console-webhook-failing = failing since { $since }
console-callbacks = Callbacks per hour, last 48 hours (this node since it started)
console-callbacks-chart = Callbacks per hour
console-chart-max = max { $max }
console-no-callback = No callback yet.
console-col-hour = Hour
console-col-by-code = By result code
console-col-callbacks = Callbacks
console-activations = Activations per day, last 30 days
console-activations-chart = Activations per day
console-the-numbers = The numbers
console-col-taken = Seats and device licenses taken
console-groups = Licenses by product and edition (not released)
console-no-license = No license yet.
console-col-product = Product
console-col-edition = Edition

console-search-label = License id, order, or customer id
console-orders = Orders
console-search = Search
console-any = Any
console-test-and-real = Test and real
console-real-only = Real only
console-test-only = Test only
console-no-match = No license matches.
console-col-license = License
console-col-customer = Customer
console-col-seats = Seats
console-col-expires = Expires
console-test-tag = test
console-next-page = Next page
console-export-csv = Export every match as CSV (for a spreadsheet)
console-never = never

console-license-title = License { $license }
console-field-kind = Kind
console-kind-classic = License 1.0 (classic)
console-kind-online = online activation (instance)
console-kind-code = License 2.0 (activation code)
console-field-customer = Customer
console-field-product = Product
console-field-edition = Edition
console-field-order = Order
console-field-seats = Seats bought
console-field-valid = Valid
console-field-revision = Revision
console-field-test = Test order
console-field-entitlements = Entitlements
console-field-updated = Updated
console-from-to = { $from } to { $to }
console-yes = yes
console-no = no
console-actions = Actions
console-action-reissue = Reissue for a new machine…
console-action-revoke = Revoke…
console-action-repair = Enter the purchase (product, order, seats)…
console-seats = Seats and devices
console-no-seat = No device has taken a seat.
console-col-seat = Seat
console-col-taken-at = Taken
console-col-how = How
console-col-state = State
console-col-action = Action
console-action-free = Free this seat…
console-how-online = online
console-how-online-transfer = online, a transfer
console-how-offline = offline request
console-how-offline-transfer = offline request, a transfer
console-in-use = in use
console-given-back = given back { $at }
console-freed = freed { $at }
console-revoked-at = revoked { $at }
console-transfers = Transfers: { $used } of { $limit } in the last 365 days
console-leases = Leases (floating seats)
console-no-lease = No program holds a lease.
console-col-program = Program
console-col-granted = Granted
console-action-take-back = Take the lease back…
console-lease-taken-back = taken back; seat free at { $at }
console-lease-released = released; seat free at { $at }
console-lease-borrowed = borrowed until { $until }
console-lease-in-use = in use until { $until }
console-lease-ended = ended { $at }
console-sites = Site servers
console-col-site-key = Site key
console-site-allotted = allotted until { $until }
console-site-ended = allotment ended { $at }
console-site-returned = given back { $at }; seats free at { $free }
console-devices = Device licenses (online activation)
console-col-event = Event
console-col-fingerprint = Fingerprint
console-col-valid = Valid
console-col-minted = Minted
console-audit = Audit timeline
console-by = by { $actor }
console-chain-ok = { $count } record(s); every record's hash matches its content and link.
console-chain-broken = TAMPERED: record(s) { $records } do not match their hash.

console-new-license = New license
console-new-license-intro = A license you issue yourself: an evaluation for a prospect, a deal closed outside the marketplace, a replacement. The catalog's terms for the product apply; the token says it was issued directly (and whether it is a trial).
console-new-product = Product (the marketplace productId)
console-new-sku = SKU (optional)
console-new-customer = Customer id (in your own books)
console-new-customer-name = Customer name (optional)
console-new-days = Valid for (days)
console-new-seats = Seats (empty: the catalog's, else 1)
console-new-trial = An evaluation (trial): extending it later makes it a paid license
console-new-note = Note for your team (never in the license)
console-new-create = Issue the license
console-done-created = License issued. Download the license file below and send it to the customer.
console-action-download = Download the license file
console-kind-direct = Issued by you
console-kind-trial = Issued by you: evaluation (trial)
console-done-revoked = Revoked. The license is on the revocation list.
console-done-reissued = Reissued as a new revision; the customer's old bindings are revoked.
console-done-freed = Seat freed; its binding is on the revocation list.
console-done-repaired = Purchase recorded: product, order and seats as entered.
console-done-taken-back = Lease taken back: its renewals are refused; its seat is free when the lease expires.
console-done-retried = Queued to run now.

console-reason = Reason (kept in the audit log)
console-repair-product = Product id (productId of the order)
console-repair-quantity = Seats bought (the order's amount)
console-repair-order = Order id
console-reissue-fingerprint = The new machine's fingerprint (optional: without it the customer gets the unbound license to activate)
console-confirm-release-title = Take back lease { $lease }?
console-confirm-release = The program holding this lease can no longer renew it: it keeps running until the lease expires (its token works offline until then), and the seat is free from that moment. Use it for a hung program or a machine that is gone; the customer's next lease request takes a free seat as usual.
console-confirm-release-button = Take the lease back
console-confirm-repair-title = Enter the purchase of code license { $license }?
console-confirm-repair = Use this when licd logged that a code's activation answer was lost: its devices are answered 'try again later' until the product, order and number of seats are known. Take them from the order in the Seller Console. An activated license is reminted with them; the customer's devices get it at their next refresh.
console-confirm-repair-button = Record the purchase
console-confirm-revoke-title = Revoke license { $license }?
console-confirm-revoke = The customer's software stops accepting this license as soon as it loads the revocation list (online at once; offline machines when they get the list), and refreshing it fails. This cannot be undone: a new purchase gets a new license.
console-confirm-revoke-button = Revoke the license
console-confirm-reissue-title = Reissue license { $license } for a new machine?
console-confirm-reissue = Every machine the license is bound to loses it (its binding goes on the revocation list) and every seat is freed; the license the customer holds now stops activating. Send the customer the reissued license shown afterwards in licctl licenses token, or bind it here to the new machine's fingerprint.
console-confirm-reissue-button = Reissue the license
console-confirm-free-title = Free seat { $seat } of license { $license }?
console-confirm-free = The machine on this seat loses the license (its binding goes on the revocation list: online at once, offline machines when they get the list), and another machine can take the seat. It does not count as one of the customer's transfers.
console-confirm-free-button = Free the seat

console-outbox-intro = Calls licd owes the marketplace: { $count } pending or dead.
console-retry-all = Retry every dead job
console-retry = Retry
console-col-job = Job
console-col-kind = Kind
console-col-attempts = Attempts
console-col-answer = Marketplace's answer
console-job-dead = dead
console-job-waiting = waiting: the marketplace's open API is not configured (--marketplace-ak, --marketplace-sk-file)
console-job-pending = pending, next { $at }

console-catalog-intro = The catalog as licd understands it.
console-catalog-intro-file = The catalog as licd understands it ({ $file }).
console-no-catalog = No catalog: every purchase gets empty entitlements.
console-default-entry = (default)
console-col-sku = SKU
console-col-binding = Binding
console-col-check-in = Check-in days
console-col-transfers = Transfers/year
console-col-entitlements = Entitlements

console-market-intro = How the marketplace reaches this licd, and how it signs.
console-market-address = Production address
console-market-address-tls = Callbacks arrive at { $path } on the public listener, which serves TLS itself.
console-market-address-plain = Callbacks arrive at { $path } on the public listener, over plain HTTP: the marketplace calls only https:// addresses, so a TLS proxy must stand in front.
console-market-check = Check it end to end with licctl marketplace rehearse, and this server with licd doctor.
console-v2-title = V2 signature
console-v2-readings = The marketplace's documents publish three readings of the V2 request signature.
console-v2-pinned = This licd is pinned to { $reading } (--v2-signature): the others are refused.
console-v2-all = This licd accepts every reading; the one the marketplace uses shows below.
console-v2-none = No V2 callback has been verified since licd started ({ $started }).
console-col-reading = Reading
console-col-first = First
console-col-last = Last
console-v2-counted = Counted since licd started ({ $started }).
console-v2-pin = Only { $reading } has matched: pin it with --v2-signature { $reading }.
console-v2-several = Several readings matched: the log names the first callback of each; find which sender uses which before pinning.
console-api-title = Open API
console-api-on = Configured: order queries and device-license uploads go out through the
console-api-off = Not configured (--marketplace-ak, --marketplace-sk-file): online-activation goods and License 2.0 codes need it.

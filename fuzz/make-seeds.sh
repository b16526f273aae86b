#!/usr/bin/env bash
# Writes seed inputs for the fuzz targets from the real-server transcripts in
# tests/fixtures/: every server-to-client chunk, prefixed for stream_reader with a control
# byte (header on) and eight chunk sizes; for client, the online traffic (roster, presence,
# vCard, disco, stream management) and hand-written service stanzas, prefixed with the
# online stage and eight read sizes.
set -euo pipefail
cd "$(dirname "$0")"
out=seeds
rm -rf "$out" && mkdir -p "$out/stream_reader" "$out/round_trip" "$out/client"
i=0
for f in ../tests/fixtures/*.xml; do
  # Split on the chunk markers and keep what the server sent.
  awk -v dir="$out" -v base="$(basename "$f" .xml)" '
    /^<!-- S->C (plain|tls) -->$/ { n++; file = dir "/round_trip/" base "-" n; keep = 1; next }
    /^<!-- / { keep = 0; next }
    keep { printf "%s\n", $0 >> file }
  ' "$f"
done
for s in "$out"/round_trip/*; do
  i=$((i + 1))
  { printf '\x01\x07\x40\x01\xff\x03\x10\x80\x02'; cat "$s"; } > "$out/stream_reader/$(basename "$s")"
done
# The client target: stage 3 (online, services answered), then the session's traffic.
online_prefix='\x03\x40\x07\x01\xff\x03\x10\x80\x02'
for s in "$out"/round_trip/*-1[2-7]-*; do
  { printf "$online_prefix"; cat "$s"; } > "$out/client/$(basename "$s")"
done
# What the services own, from our account and from others (some refused).
services=(
  "<iq type='set' id='push1'><query xmlns='jabber:iq:roster' ver='2'><item jid='tybalt@example.org' name='T'><group>Foes</group></item></query></iq><iq type='set' id='push2' from='mallory@example.org'><query xmlns='jabber:iq:roster'><item jid='x@example.org'/></query></iq>"
  "<presence from='romeo@example.net/orchard'><show>away</show><priority>5</priority></presence><presence from='romeo@example.net/garden'/><presence from='romeo@example.net/orchard' type='unavailable'/><presence from='s1@example.org/a'/><presence from='s2@example.org/a'><status>hi</status></presence>"
  "<presence from='benvolio@example.net' type='subscribe'/><presence from='nurse@example.com' type='subscribed'/><presence from='romeo@example.net' type='unsubscribed'/><presence from='tybalt@example.org' type='unsubscribe'/>"
  "<iq type='get' id='d1' from='romeo@example.net/orchard'><query xmlns='http://jabber.org/protocol/disco#info'/></iq><iq type='get' id='d2' from='romeo@example.net/orchard'><query xmlns='http://jabber.org/protocol/disco#info' node='https://crates.io/crates/xmpp-sansio#x'/></iq><iq type='get' id='d3' from='romeo@example.net/orchard'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"
  "<presence from='romeo@example.net/orchard'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://code.google.com/p/exodus' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence><presence from='benvolio@example.net/home'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://code.google.com/p/exodus' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence><iq type='result' id='5eb7f92b95387cca' from='romeo@example.net/orchard'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' name='Exodus 0.9.1' type='pc'/><feature var='http://jabber.org/protocol/caps'/><feature var='http://jabber.org/protocol/disco#info'/><feature var='http://jabber.org/protocol/disco#items'/><feature var='http://jabber.org/protocol/muc'/></query></iq><presence from='tybalt@example.org/x'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>"
  "<presence from='tybalt@example.org/x'><c xmlns='urn:xmpp:caps'><hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>kzBZbkqJ3ADrj7v08reD1qcWUwNGHaidNUgD7nHpiw8=</hash></c></presence><presence from='s1@example.org/a'><c xmlns='http://jabber.org/protocol/caps' node='http://example.org/legacy' ver='1.0'/></presence><iq type='result' id='5eb7f92b95387cca' from='tybalt@example.org/x'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='pc'/><feature var='urn:evil'/></query></iq><iq type='result' id='296cd0f2c21d7f90' from='s1@example.org/a'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='console'/></query></iq><presence from='s1@example.org/a' type='unavailable'/>"
  "<presence from='romeo@example.net/orchard'><x xmlns='vcard-temp:x:update'><photo>aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d</photo></x></presence><presence from='benvolio@example.net/home'><x xmlns='vcard-temp:x:update'><photo>0000c61ddcc5e8a2dabede0f3b482cd9aea9434d</photo></x></presence><iq type='result' id='5eb7f92b95387cca' from='romeo@example.net'><vCard xmlns='vcard-temp'><FN>Romeo</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>aGVsbG8=</BINVAL></PHOTO></vCard></iq><iq type='result' id='296cd0f2c21d7f90' from='benvolio@example.net'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>aGVsbG8=</BINVAL></PHOTO></vCard></iq><presence from='nurse@example.com/x'><x xmlns='vcard-temp:x:update'><photo>aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d</photo></x></presence><presence from='romeo@example.net/orchard'><x xmlns='vcard-temp:x:update'><photo/></x></presence>"
  "<message from='romeo@example.net' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:avatar:metadata'><item id='aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d'><metadata xmlns='urn:xmpp:avatar:metadata'><info id='aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d' type='image/png' bytes='5'/><info id='0000c61ddcc5e8a2dabede0f3b482cd9aea9434d' type='image/gif' url='https://example.net/a.gif'/></metadata></item></items></event></message><iq type='result' id='5eb7f92b95387cca' from='romeo@example.net'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'><item id='aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d'><data xmlns='urn:xmpp:avatar:data'>aGVsbG8=</data></item></items></pubsub></iq><message from='romeo@example.net' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:avatar:metadata'><item><metadata xmlns='urn:xmpp:avatar:metadata'/></item></items></event></message>"
  "<enabled xmlns='urn:xmpp:sm:3' id='s1' resume='true' max='600'/><message from='romeo@example.net/orchard' type='chat'><body>1</body></message><r xmlns='urn:xmpp:sm:3'/><a xmlns='urn:xmpp:sm:3' h='2'/><a xmlns='urn:xmpp:sm:3' h='99'/>"
  "<enabled xmlns='urn:xmpp:sm:3' id='s1' resume='true' max='600'/><presence from='romeo@example.net/orchard'/><stream:error><connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>                                                                                                                                                                                                                                                                                                            <resumed xmlns='urn:xmpp:sm:3' previd='s1' h='3'/><r xmlns='urn:xmpp:sm:3'/><message from='romeo@example.net/orchard' type='chat'><body>2</body></message>"
  "<enabled xmlns='urn:xmpp:sm:3' id='s1' resume='true'/><stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>                                                                                                                                                                                                                                                                                                            <failed xmlns='urn:xmpp:sm:3' h='1'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
  "<message from='juliet@example.com' type='chat'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='romeo@example.net/home' to='juliet@example.com/phone' type='chat'><body>hi</body></message></forwarded></received></message><message from='mallory@example.org'><sent xmlns='urn:xmpp:carbons:2'/></message>"
)
# Online with a password change (bit 6) or an account removal (bit 7) outstanding: its id
# is the client's sixth (bind, roster, carbons, our vCard and the server description took
# the first five).
account_answers=(
  '\x43' "<iq type='result' id='5eb7f92b95387cca'/>"
  '\x43' "<iq type='error' id='5eb7f92b95387cca'><query xmlns='jabber:iq:register'><x type='form' xmlns='jabber:x:data'><field type='hidden' var='FORM_TYPE'><value>jabber:iq:register:changepassword</value></field><field var='username'><required/></field><field var='old_password' type='text-private'><required/></field><field var='password' type='text-private'><required/></field></x></query><error type='modify'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
  '\x83' "<iq type='result' id='5eb7f92b95387cca'/><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"
  '\x83' "<iq type='error' id='5eb7f92b95387cca'><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
)
for ((k = 0; k < ${#account_answers[@]}; k += 2)); do
  { printf "${account_answers[k]}"'\x40\x07\x01\xff\x03\x10\x80\x02'; printf '%s' "${account_answers[k+1]}"; } \
    > "$out/client/account-$k"
done
# Registration (stage 2 with bit 4 set): the form, then the result or a refusal, in small
# reads that leave the clock alone (the exchange is longer than one 30 s timeout of reads).
register_prefix='\x12\x40\x0f\x0f\x0f\x0f\x0f\x0f\x0f'
# The ids are the client's first two (the fuzz target seeds its ids with 0x5eed).
form="<iq type='result' id='09f1fd9d03f0a9b4'><query xmlns='jabber:iq:register'><instructions>Choose</instructions><username/><password/><x type='form' xmlns='jabber:x:data'><field type='hidden' var='FORM_TYPE'><value>jabber:iq:register</value></field><field var='username'><required/></field><field var='password' type='text-private'><required/></field></x></query></iq>"
forms=(
  "$form<iq type='result' id='553274161bbf8475'/>"
  "$form<iq type='error' id='553274161bbf8475'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>taken</text></error></iq>"
)
for f in "${forms[@]}"; do
  n=$((${n:-0} + 1))
  { printf "$register_prefix"; printf '%s' "$f"; } > "$out/client/register-$n"
done
n=0
for stanza in "${services[@]}"; do
  n=$((n + 1))
  { printf "$online_prefix"; printf '%s' "$stanza"; } > "$out/client/services-$n"
done

for t in "$out"/*; do echo "$(ls "$t" | wc -l) seeds in fuzz/$t"; done

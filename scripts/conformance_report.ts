/**
 * Conformance report: lists the server-side normative statements of MQTT 5.0 and MQTT 3.1.1
 * (ids with a one-line paraphrase, written for this project) and, by scanning the names of
 * the tests for `[MQTT-x.y.z-n]`, which tests cover each; writes `docs/conformance.md`.
 *
 * Test names are string literals containing a statement id, in `*_test.ts` files and the
 * differential cases under tests/, broker/ and protocol/ (except the client machine's
 * tests). A name that says `v5`/`MQTT 5` counts for MQTT 5.0 only, one that says
 * `v3.1.1`/`v4`/`MQTT 3` for MQTT 3.1.1 only, any other for both (the ids of the two
 * specifications overlap but often mean different things, so a name should say which).
 *
 * Run: `deno run -A scripts/conformance_report.ts` (`--check` fails when the file is stale)
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";

const ROOT = new URL("..", import.meta.url).pathname;
const OUTPUT = join(ROOT, "docs", "conformance.md");

/** MQTT 5.0: statements a server must satisfy (sender/receiver ones included). */
const V5: [string, string][] = [
  [
    "1.5.4-1",
    "UTF-8 strings must be well-formed (no surrogate code points); ill-formed ones are malformed",
  ],
  ["1.5.4-2", "UTF-8 strings must not contain U+0000"],
  ["1.5.4-3", "A BOM sequence is kept as U+FEFF, never stripped"],
  ["1.5.5-1", "Variable byte integers use the fewest bytes"],
  ["1.5.7-1", "Both strings of a string pair are valid UTF-8"],
  [
    "2.1.3-1",
    "Reserved fixed-header flag bits have their listed values, else the packet is malformed",
  ],
  ["2.2.1-4", "A new server PUBLISH with QoS > 0 gets an unused non-zero packet id"],
  ["2.2.1-5", "PUBACK, PUBREC, PUBREL and PUBCOMP carry the packet id of their PUBLISH"],
  ["2.2.1-6", "SUBACK and UNSUBACK carry the packet id of their request"],
  ["2.2.2-1", "No properties is sent as a property length of zero"],
  ["3.1.0-1", "The first packet from a client must be CONNECT"],
  ["3.1.0-2", "A second CONNECT is a protocol error and closes the connection"],
  ["3.1.2-1", "A wrong protocol name may get CONNACK 0x84, then the connection closes"],
  ["3.1.2-2", "An unsupported protocol version may get CONNACK 0x84, then the connection closes"],
  ["3.1.2-3", "The server checks that the CONNECT reserved flag is 0"],
  ["3.1.2-4", "Clean Start 1 discards any existing session"],
  ["3.1.2-5", "Clean Start 0 with an existing session resumes it"],
  ["3.1.2-6", "Clean Start 0 without a session creates one"],
  ["3.1.2-7", "With the Will Flag set the will is stored with the session"],
  [
    "3.1.2-8",
    "The will is published after the connection closes (after the will delay or session end) unless a normal DISCONNECT removed it or the client reconnected in time",
  ],
  ["3.1.2-10", "The will is removed once published or on DISCONNECT 0x00"],
  ["3.1.2-14", "Will Retain 0 publishes the will as non-retained"],
  ["3.1.2-15", "Will Retain 1 publishes the will as retained"],
  ["3.1.2-22", "No packet within 1.5 times the keep alive closes the connection"],
  [
    "3.1.2-23",
    "Session state is kept after the connection closes when the expiry interval is above 0",
  ],
  ["3.1.2-24", "The server never sends a packet larger than the client's Maximum Packet Size"],
  ["3.1.2-25", "A packet too large to send is dropped as if it had been delivered"],
  ["3.1.2-26", "No topic alias above the client's Topic Alias Maximum is sent"],
  ["3.1.2-27", "No topic alias is sent when the client's Topic Alias Maximum is absent or 0"],
  ["3.1.2-28", "Request Response Information 0 means no Response Information is returned"],
  [
    "3.1.2-29",
    "Request Problem Information 0 limits reason strings and user properties to PUBLISH, CONNACK and DISCONNECT",
  ],
  ["3.1.3-2", "The client id identifies the session state"],
  ["3.1.3-3", "The client id is present and first in the CONNECT payload"],
  ["3.1.3-4", "The client id is a UTF-8 string"],
  ["3.1.3-5", "Client ids of 1 to 23 alphanumeric characters are allowed"],
  ["3.1.3-6", "An allowed empty client id gets a unique assigned id"],
  [
    "3.1.3-7",
    "That CONNECT is processed with the assigned id, returned as Assigned Client Identifier",
  ],
  ["3.1.3-8", "A refused client id may get CONNACK 0x85, then the connection closes"],
  [
    "3.1.3-9",
    "No will is sent when a new connection resumes the session before the will delay passes",
  ],
  ["3.1.3-10", "User property order is kept when the will is published"],
  ["3.1.3-11", "The will topic is a UTF-8 string"],
  ["3.1.3-12", "The user name is a UTF-8 string"],
  ["3.1.4-1", "A CONNECT not matching the format closes the connection"],
  ["3.1.4-2", "Failed further checks (authentication, authorization) close the connection"],
  [
    "3.1.4-3",
    "A connection with a client id already connected takes over: the old one gets DISCONNECT 0x8E and is closed",
  ],
  ["3.1.4-4", "Clean Start is processed as described"],
  ["3.1.4-5", "An accepted CONNECT is acknowledged with CONNACK 0x00"],
  ["3.1.4-6", "After refusing CONNECT, nothing but AUTH sent by the client is processed"],
  ["3.2.0-1", "CONNACK (success) comes before any other packet except AUTH"],
  ["3.2.0-2", "At most one CONNACK per connection"],
  ["3.2.2-1", "CONNACK flag bits 7-1 are 0"],
  ["3.2.2-2", "Clean Start 1 gives Session Present 0"],
  ["3.2.2-3", "Clean Start 0 gives Session Present 1 exactly when a session existed"],
  ["3.2.2-6", "A failing CONNACK has Session Present 0"],
  ["3.2.2-7", "After a CONNACK reason code of 0x80 or more the connection closes"],
  ["3.2.2-8", "CONNACK uses a CONNECT reason code"],
  ["3.2.2-9", "A server without QoS 1 or 2 sends Maximum QoS"],
  ["3.2.2-10", "Such a server still accepts SUBSCRIBE with any requested QoS"],
  ["3.2.2-11", "A PUBLISH above the Maximum QoS is refused (DISCONNECT 0x9B)"],
  [
    "3.2.2-12",
    "A will QoS above the server's capability is refused (0x9B) and the connection closed",
  ],
  [
    "3.2.2-13",
    "A retained will without retain support is refused (0x9A) and the connection closed",
  ],
  ["3.2.2-14", "A PUBLISH with RETAIN while Retain Available is 0 is refused (0x9A)"],
  ["3.2.2-16", "An empty client id gets an unused Assigned Client Identifier in CONNACK"],
  ["3.2.2-19", "No CONNACK Reason String beyond the client's Maximum Packet Size"],
  ["3.2.2-20", "No CONNACK User Property beyond the client's Maximum Packet Size"],
  ["3.2.2-22", "Without Server Keep Alive the client's keep alive is used"],
  ["3.3.1-1", "DUP is 1 on a re-delivery"],
  ["3.3.1-2", "DUP is 0 for QoS 0"],
  ["3.3.1-3", "The outgoing DUP flag depends only on whether that PUBLISH is a retransmission"],
  ["3.3.1-4", "QoS 3 is malformed"],
  ["3.3.1-5", "RETAIN 1 replaces and stores the retained message of the topic"],
  ["3.3.1-6", "An empty retained payload removes the topic's retained message"],
  ["3.3.1-7", "An empty retained message is not stored"],
  ["3.3.1-8", "RETAIN 0 neither stores nor removes a retained message"],
  ["3.3.1-9", "Retain Handling 0 sends the matching retained messages on subscribe"],
  ["3.3.1-10", "Retain Handling 1 sends them only for a new subscription"],
  ["3.3.1-11", "Retain Handling 2 sends none"],
  ["3.3.1-12", "Retain As Published 0 forwards with RETAIN 0"],
  ["3.3.1-13", "Retain As Published 1 forwards with RETAIN as published"],
  ["3.3.2-1", "The topic name is first and a UTF-8 string"],
  ["3.3.2-2", "A topic name contains no wildcards"],
  ["3.3.2-3", "A forwarded topic name matches the subscription's filter"],
  ["3.3.2-4", "Payload Format Indicator is forwarded unchanged"],
  [
    "3.3.2-5",
    "A message whose expiry passed before delivery started is dropped for that subscriber",
  ],
  ["3.3.2-6", "The forwarded Message Expiry Interval is reduced by the time waited"],
  ["3.3.2-7", "Topic alias mappings do not carry over to a new connection"],
  ["3.3.2-8", "Topic alias 0 is never sent"],
  ["3.3.2-11", "No topic alias above the client's maximum is sent"],
  ["3.3.2-12", "Topic aliases 1 to the announced maximum are accepted"],
  ["3.3.2-15", "Response Topic is forwarded unchanged"],
  ["3.3.2-16", "Correlation Data is forwarded unchanged"],
  ["3.3.2-17", "User properties are forwarded unchanged"],
  ["3.3.2-18", "User property order is kept when forwarding"],
  ["3.3.2-20", "Content Type is forwarded unchanged"],
  ["3.3.4-1", "A PUBLISH is answered as its QoS requires"],
  ["3.3.4-2", "Overlapping subscriptions respect the highest QoS of the matches"],
  ["3.3.4-3", "Subscription identifiers of overlapping subscriptions are sent"],
  ["3.3.4-4", "A single copy carries every matching subscription identifier"],
  ["3.3.4-5", "Each of several copies carries its subscription's identifier"],
  ["3.3.4-6", "A client PUBLISH carrying a subscription identifier is a protocol error"],
  ["3.3.4-9", "No more unacknowledged QoS 1 and 2 PUBLISH than the client's Receive Maximum"],
  ["3.3.4-10", "Other packets are not delayed by a full receive window"],
  ["3.4.2-1", "PUBACK uses a PUBACK reason code"],
  ["3.4.2-2", "No PUBACK Reason String beyond the receiver's Maximum Packet Size"],
  ["3.4.2-3", "No PUBACK User Property beyond the receiver's Maximum Packet Size"],
  ["3.5.2-1", "PUBREC uses a PUBREC reason code"],
  ["3.5.2-2", "No PUBREC Reason String beyond the receiver's Maximum Packet Size"],
  ["3.5.2-3", "No PUBREC User Property beyond the receiver's Maximum Packet Size"],
  ["3.6.1-1", "PUBREL flags must be 0010, else malformed and closed"],
  ["3.6.2-1", "PUBREL uses a PUBREL reason code"],
  ["3.6.2-2", "No PUBREL Reason String beyond the receiver's Maximum Packet Size"],
  ["3.6.2-3", "No PUBREL User Property beyond the receiver's Maximum Packet Size"],
  ["3.7.2-1", "PUBCOMP uses a PUBCOMP reason code"],
  ["3.7.2-2", "No PUBCOMP Reason String beyond the receiver's Maximum Packet Size"],
  ["3.7.2-3", "No PUBCOMP User Property beyond the receiver's Maximum Packet Size"],
  ["3.8.1-1", "SUBSCRIBE flags must be 0010, else malformed and closed"],
  ["3.8.3-1", "Topic filters are UTF-8 strings"],
  ["3.8.3-2", "SUBSCRIBE has at least one filter"],
  ["3.8.3-3", "No Local: not forwarded back to the publishing client id"],
  ["3.8.3-4", "No Local on a shared subscription is a protocol error"],
  ["3.8.3-5", "Non-zero reserved subscription option bits are malformed"],
  ["3.8.4-1", "SUBSCRIBE is answered with SUBACK"],
  ["3.8.4-2", "SUBACK has the SUBSCRIBE's packet id"],
  ["3.8.4-3", "A subscription with an identical filter replaces the existing one"],
  [
    "3.8.4-4",
    "With Retain Handling 0 retained messages are re-sent on replacement, and no message is lost",
  ],
  ["3.8.4-5", "Several filters are handled as a sequence of SUBSCRIBEs answered by one SUBACK"],
  ["3.8.4-6", "SUBACK has a reason code per filter"],
  ["3.8.4-7", "Each code is the granted QoS or a failure"],
  ["3.8.4-8", "Delivery QoS is the minimum of the published and the granted QoS"],
  ["3.9.2-1", "No SUBACK Reason String beyond the client's Maximum Packet Size"],
  ["3.9.2-2", "No SUBACK User Property beyond the client's Maximum Packet Size"],
  ["3.9.3-1", "SUBACK reason codes are in the order of the filters"],
  ["3.9.3-2", "SUBACK uses SUBACK reason codes"],
  ["3.10.1-1", "UNSUBSCRIBE flags must be 0010, else malformed and closed"],
  ["3.10.3-1", "UNSUBSCRIBE filters are UTF-8 strings"],
  ["3.10.3-2", "UNSUBSCRIBE has at least one filter"],
  ["3.10.4-1", "Filters are compared character by character and a match is deleted"],
  ["3.10.4-2", "No new messages are queued for a deleted subscription"],
  ["3.10.4-3", "QoS 1 and 2 deliveries already started are completed"],
  ["3.10.4-4", "UNSUBSCRIBE is answered with UNSUBACK"],
  ["3.10.4-5", "UNSUBACK has the request's packet id, even when nothing was deleted"],
  ["3.10.4-6", "Several filters are handled in sequence and answered by one UNSUBACK"],
  ["3.11.2-1", "No UNSUBACK Reason String beyond the client's Maximum Packet Size"],
  ["3.11.2-2", "No UNSUBACK User Property beyond the client's Maximum Packet Size"],
  ["3.11.3-1", "UNSUBACK reason codes are in the order of the filters"],
  ["3.11.3-2", "UNSUBACK uses UNSUBACK reason codes"],
  ["3.12.4-1", "PINGREQ is answered with PINGRESP"],
  ["3.14.0-1", "No DISCONNECT from the server before a successful CONNACK"],
  ["3.14.1-1", "Non-zero DISCONNECT reserved bits are malformed"],
  ["3.14.2-1", "DISCONNECT uses a DISCONNECT reason code"],
  ["3.14.2-2", "The server never sends Session Expiry Interval in DISCONNECT"],
  ["3.14.2-3", "No DISCONNECT Reason String beyond the receiver's Maximum Packet Size"],
  ["3.14.2-4", "No DISCONNECT User Property beyond the receiver's Maximum Packet Size"],
  ["3.14.4-1", "Nothing is sent after DISCONNECT"],
  ["3.14.4-2", "The connection closes after DISCONNECT"],
  ["3.14.4-3", "DISCONNECT 0x00 discards the will without publishing it"],
  ["3.15.1-1", "AUTH flags must be 0, else malformed"],
  ["3.15.2-1", "AUTH uses an AUTH reason code"],
  ["3.15.2-2", "No AUTH Reason String beyond the receiver's Maximum Packet Size"],
  ["3.15.2-3", "No AUTH User Property beyond the receiver's Maximum Packet Size"],
  ["4.1.0-1", "Session state is kept while the connection is open"],
  ["4.1.0-2", "Session state is discarded once closed and the expiry interval passed"],
  ["4.3.1-1", "QoS 0 is sent with DUP 0"],
  ["4.3.2-1", "QoS 1 sending uses an unused packet id"],
  ["4.3.2-2", "QoS 1 is sent with DUP 0 first"],
  ["4.3.2-3", "A QoS 1 PUBLISH stays unacknowledged until PUBACK"],
  ["4.3.2-4", "A received QoS 1 PUBLISH is answered with PUBACK"],
  ["4.3.2-5", "After PUBACK the same packet id is a new message"],
  ["4.3.3-1", "QoS 2 sending uses an unused packet id"],
  ["4.3.3-2", "QoS 2 is sent with DUP 0 first"],
  ["4.3.3-3", "A QoS 2 PUBLISH stays unacknowledged until PUBREC"],
  ["4.3.3-4", "PUBREC (below 0x80) is answered with PUBREL of the same id"],
  ["4.3.3-5", "PUBREL stays unacknowledged until PUBCOMP"],
  ["4.3.3-6", "PUBLISH is not re-sent once PUBREL was sent"],
  ["4.3.3-7", "No message expiry once the PUBLISH was sent"],
  ["4.3.3-8", "A received QoS 2 PUBLISH is answered with PUBREC"],
  ["4.3.3-9", "After PUBREC 0x80 or more the same id is a new message"],
  ["4.3.3-10", "Until PUBREL, repeats get PUBREC and are not delivered again"],
  ["4.3.3-11", "PUBREL is answered with PUBCOMP of the same id"],
  ["4.3.3-12", "After PUBCOMP the same id is a new message"],
  ["4.3.3-13", "The QoS 2 exchange continues even when the message expired"],
  [
    "4.4.0-1",
    "On resumption unacknowledged PUBLISH and PUBREL are re-sent with their ids, and never otherwise",
  ],
  ["4.4.0-2", "A PUBACK or PUBREC of 0x80 or more ends the message, no retransmission"],
  ["4.5.0-1", "An accepted message is added to the session of every matching subscriber"],
  ["4.6.0-5", "Messages of an ordered topic go out in the order received from each client"],
  ["4.6.0-6", "Non-shared subscriptions are ordered by default"],
  ["4.7.0-1", "Wildcards are not used in topic names"],
  ["4.7.1-1", "'#' is alone or after '/', and last"],
  ["4.7.1-2", "'+' fills a whole level"],
  ["4.7.2-1", "Filters starting with a wildcard do not match topics starting with '$'"],
  ["4.7.3-1", "Topic names and filters are at least one character"],
  ["4.7.3-2", "Topic names and filters contain no U+0000"],
  ["4.7.3-3", "Topic names and filters are at most 65,535 bytes"],
  ["4.7.3-4", "No normalisation of topics when matching"],
  ["4.8.2-1", "A shared filter starts with $share/ and a non-empty share name"],
  ["4.8.2-2", "The share name has no '/', '+' or '#' and is followed by '/' and a filter"],
  ["4.8.2-3", "A shared delivery respects the member's granted QoS"],
  ["4.8.2-4", "A QoS 2 delivery to a member is completed when it reconnects"],
  ["4.8.2-5", "If that member's session ends first, the message goes to no other member"],
  ["4.8.2-6", "A PUBACK/PUBREC of 0x80 or more discards the message for the group"],
  ["4.9.0-1", "The initial send quota is non-zero and at most Receive Maximum"],
  ["4.9.0-2", "At zero quota no QoS > 0 PUBLISH is sent"],
  ["4.9.0-3", "Other packets are still processed at zero quota"],
  [
    "4.12.0-1",
    "An unsupported authentication method may get 0x8C or 0x87, then the connection closes",
  ],
  ["4.12.0-2", "A server AUTH asking for more has reason code 0x18"],
  ["4.12.0-4", "A rejected authentication closes the connection"],
  ["4.12.0-5", "AUTH and a successful CONNACK carry the CONNECT's authentication method"],
  ["4.12.0-6", "Without an authentication method in CONNECT no AUTH and no method in CONNACK"],
  ["4.12.0-7", "AUTH from a client that sent no authentication method is a protocol error"],
  ["4.12.1-2", "A failed re-authentication closes the connection"],
  ["4.13.1-1", "A malformed packet or protocol error closes the connection"],
  ["6.0.0-1", "MQTT over WebSocket uses binary frames; other frames close the connection"],
  ["6.0.0-2", "A packet may span WebSocket frames and frames may hold several packets"],
  ["6.0.0-4", 'The server selects the "mqtt" WebSocket subprotocol'],
];

/** MQTT 3.1.1: statements a server must satisfy. */
const V311: [string, string][] = [
  ["1.5.3-1", "Ill-formed UTF-8 (including surrogates) closes the connection"],
  ["1.5.3-2", "U+0000 in a string closes the connection"],
  ["1.5.3-3", "A BOM sequence is kept as U+FEFF, never stripped"],
  ["2.2.2-1", "Reserved fixed-header flags have their listed values"],
  ["2.2.2-2", "Invalid flags close the connection"],
  ["2.3.1-1", "SUBSCRIBE, UNSUBSCRIBE and PUBLISH with QoS > 0 have a non-zero packet id"],
  ["2.3.1-4", "The server assigns packet ids to its PUBLISH the same way"],
  ["2.3.1-5", "A QoS 0 PUBLISH has no packet id"],
  ["2.3.1-6", "PUBACK, PUBREC and PUBREL carry the packet id of their PUBLISH"],
  ["2.3.1-7", "SUBACK and UNSUBACK carry the packet id of their request"],
  ["3.1.0-1", "The first packet from a client must be CONNECT"],
  ["3.1.0-2", "A second CONNECT is a protocol violation: disconnect"],
  ["3.1.2-1", "A wrong protocol name may close the connection"],
  ["3.1.2-2", "An unsupported protocol level gets CONNACK 0x01, then disconnect"],
  ["3.1.2-3", "A non-zero reserved flag closes the connection"],
  ["3.1.2-4", "Clean session 0 resumes the session (or creates one)"],
  ["3.1.2-5", "QoS 1 and 2 messages are stored for a disconnected clean-session-0 client"],
  ["3.1.2-6", "Clean session 1 discards the previous session; the new one ends at disconnect"],
  ["3.1.2-7", "Retained messages survive the end of a session"],
  ["3.1.2-8", "The will is published when the connection closes, unless DISCONNECT was sent"],
  ["3.1.2-9", "With the Will Flag set, will topic and message are present"],
  ["3.1.2-10", "The will is removed once published or on DISCONNECT"],
  ["3.1.2-11", "Will Flag 0: will QoS and retain are 0, no will fields"],
  ["3.1.2-12", "Will Flag 0: no will is published"],
  ["3.1.2-13", "Will Flag 0: will QoS is 0"],
  ["3.1.2-14", "Will Flag 1: will QoS is 0, 1 or 2, never 3"],
  ["3.1.2-15", "Will Flag 0: will retain is 0"],
  ["3.1.2-16", "Will retain 0 publishes the will non-retained"],
  ["3.1.2-17", "Will retain 1 publishes the will retained"],
  ["3.1.2-18", "User name flag 0: no user name"],
  ["3.1.2-19", "User name flag 1: a user name is present"],
  ["3.1.2-20", "Password flag 0: no password"],
  ["3.1.2-21", "Password flag 1: a password is present"],
  ["3.1.2-22", "User name flag 0 requires password flag 0"],
  ["3.1.2-24", "Nothing received within 1.5 times the keep alive disconnects the client"],
  [
    "3.1.3-1",
    "Payload fields come in the order client id, will topic, will message, user name, password",
  ],
  ["3.1.3-2", "The client id identifies the session state"],
  ["3.1.3-3", "The client id is present and first"],
  ["3.1.3-4", "The client id is a UTF-8 string"],
  ["3.1.3-5", "Client ids of 1 to 23 alphanumeric characters are allowed"],
  ["3.1.3-6", "An allowed empty client id gets a unique id and a new session"],
  ["3.1.3-8", "An empty client id with clean session 0 gets CONNACK 0x02 and is closed"],
  ["3.1.3-9", "A refused client id gets CONNACK 0x02 and is closed"],
  ["3.1.3-10", "The will topic is a UTF-8 string"],
  ["3.1.3-11", "The user name is a UTF-8 string"],
  ["3.1.4-1", "A non-conforming CONNECT closes the connection without CONNACK"],
  ["3.1.4-2", "An already connected client with the same id is disconnected (take-over)"],
  ["3.1.4-3", "Clean session is processed as described"],
  ["3.1.4-4", "An accepted CONNECT gets CONNACK 0x00"],
  ["3.1.4-5", "After refusing CONNECT nothing more from the client is processed"],
  ["3.2.0-1", "The server's first packet is CONNACK"],
  ["3.2.2-1", "Clean session 1 gives session present 0"],
  ["3.2.2-2", "Clean session 0 with a stored session gives session present 1"],
  ["3.2.2-3", "Clean session 0 without a stored session gives session present 0"],
  ["3.2.2-4", "A non-zero return code has session present 0"],
  ["3.2.2-5", "A non-zero return code is followed by closing the connection"],
  ["3.2.2-6", "Without an applicable return code the connection closes without CONNACK"],
  ["3.3.1-1", "DUP is 1 on a re-delivery"],
  ["3.3.1-2", "DUP is 0 for QoS 0"],
  ["3.3.1-3", "The outgoing DUP flag depends only on retransmission"],
  ["3.3.1-4", "QoS 3 closes the connection"],
  ["3.3.1-5", "RETAIN 1 stores the message as the topic's retained message"],
  ["3.3.1-6", "A new subscription gets the matching retained messages"],
  ["3.3.1-7", "A retained QoS 0 message replaces the previous one"],
  ["3.3.1-8", "Retained messages sent for a new subscription have RETAIN 1"],
  ["3.3.1-9", "Messages for established subscriptions have RETAIN 0"],
  ["3.3.1-10", "An empty retained payload removes the topic's retained message"],
  ["3.3.1-11", "An empty retained message is not stored"],
  ["3.3.1-12", "RETAIN 0 neither stores nor removes a retained message"],
  ["3.3.2-1", "The topic name is first and a UTF-8 string"],
  ["3.3.2-2", "A topic name contains no wildcards"],
  ["3.3.2-3", "A forwarded topic name matches the subscription's filter"],
  ["3.3.4-1", "A PUBLISH is answered as its QoS requires"],
  ["3.3.5-1", "Overlapping subscriptions deliver at the highest matching QoS"],
  ["3.3.5-2", "An unauthorised PUBLISH gets a positive acknowledgement or a closed connection"],
  ["3.6.1-1", "PUBREL flags must be 0010, else close"],
  ["3.8.1-1", "SUBSCRIBE flags must be 0010, else close"],
  ["3.8.3-1", "Topic filters are UTF-8 strings"],
  ["3.8.3-2", "A server without wildcard support refuses wildcard filters"],
  ["3.8.3-3", "SUBSCRIBE has at least one filter"],
  ["3.8.3-4", "Reserved bits or QoS 3 in a subscription close the connection"],
  ["3.8.4-1", "SUBSCRIBE is answered with SUBACK"],
  ["3.8.4-2", "SUBACK has the SUBSCRIBE's packet id"],
  [
    "3.8.4-3",
    "An identical filter replaces the subscription, retained messages are re-sent, nothing is lost",
  ],
  ["3.8.4-4", "Several filters are handled as a sequence answered by one SUBACK"],
  ["3.8.4-5", "SUBACK has a return code per filter"],
  ["3.8.4-6", "Delivery QoS is at most the granted QoS"],
  ["3.9.3-1", "SUBACK return codes are in the order of the filters"],
  ["3.9.3-2", "SUBACK return codes are 0x00, 0x01, 0x02 or 0x80"],
  ["3.10.1-1", "UNSUBSCRIBE flags must be 0010, else close"],
  ["3.10.3-1", "UNSUBSCRIBE filters are UTF-8 strings"],
  ["3.10.3-2", "UNSUBSCRIBE has at least one filter"],
  ["3.10.4-1", "Filters are compared character by character and a match is deleted"],
  ["3.10.4-2", "No new messages for a deleted subscription"],
  ["3.10.4-3", "QoS 1 and 2 deliveries already started are completed"],
  ["3.10.4-4", "UNSUBSCRIBE is answered with UNSUBACK"],
  ["3.10.4-5", "UNSUBACK is sent even when nothing matched"],
  ["3.10.4-6", "Several filters are handled in sequence and answered by one UNSUBACK"],
  ["3.12.4-1", "PINGREQ is answered with PINGRESP"],
  ["3.14.1-1", "Non-zero DISCONNECT flags close the connection"],
  ["3.14.4-3", "DISCONNECT discards the will without publishing it"],
  ["4.1.0-1", "Session state is kept for the whole session"],
  ["4.1.0-2", "A session lasts at least as long as its connection"],
  ["4.3.1-1", "QoS 0 is sent with DUP 0"],
  ["4.3.2-1", "QoS 1 sending: unused packet id, DUP 0, unacknowledged until PUBACK"],
  ["4.3.2-2", "QoS 1 receiving: PUBACK with the id; afterwards the id is a new message"],
  ["4.3.3-1", "QoS 2 sending: unused id, PUBREL after PUBREC, no PUBLISH re-send after PUBREL"],
  [
    "4.3.3-2",
    "QoS 2 receiving: PUBREC, no duplicate delivery before PUBREL, PUBCOMP; then the id is new",
  ],
  ["4.4.0-1", "On resumption unacknowledged PUBLISH and PUBREL are re-sent with their ids"],
  ["4.5.0-1", "An accepted message is added to the session of every matching subscriber"],
  ["4.6.0-5", "Topics are ordered by default"],
  ["4.6.0-6", "Messages of an ordered topic go out in the order received from each client"],
  ["4.7.1-1", "Wildcards are used in filters, never in topic names"],
  ["4.7.1-2", "'#' is alone or after '/', and last"],
  ["4.7.1-3", "'+' fills a whole level"],
  ["4.7.2-1", "Filters starting with a wildcard do not match topics starting with '$'"],
  ["4.7.3-1", "Topic names and filters are at least one character"],
  ["4.7.3-2", "Topic names and filters contain no U+0000"],
  ["4.7.3-3", "Topic names and filters are at most 65,535 bytes"],
  ["4.7.3-4", "No normalisation of topics when matching"],
  ["4.8.0-1", "A protocol violation closes the connection"],
  ["6.0.0-1", "MQTT over WebSocket uses binary frames; other frames close the connection"],
  ["6.0.0-2", "A packet may span WebSocket frames and frames may hold several packets"],
  ["6.0.0-4", 'The server selects the "mqtt" WebSocket subprotocol'],
];

interface Named {
  file: string;
  name: string;
  ids: string[];
  versions: ("5" | "3.1.1")[];
}

const ID = /MQTT-(\d+\.\d+(?:\.\d+)?-\d+)/g;
const LITERAL = /(["'`])((?:(?!\1)[^\\]|\\.)*?\[MQTT-[^\]]+\](?:(?!\1)[^\\]|\\.)*?)\1/g;

function files(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...files(path));
    else if (entry.endsWith(".ts")) out.push(path);
  }
  return out;
}

function isTestSource(path: string): boolean {
  const rel = relative(ROOT, path);
  if (rel.startsWith("protocol/client_")) return false;
  if (rel.endsWith("_test.ts")) return true;
  return rel.startsWith("tests/differential/_cases");
}

function versionsOf(name: string): ("5" | "3.1.1")[] {
  const v5 = /\bv5\b|MQTT 5|\(v5\)/.test(name);
  const v3 = /v3\.1\.1|\bv4\b|MQTT 3|\bv3\b|3\.1\.1/.test(name);
  if (v5 && !v3) return ["5"];
  if (v3 && !v5) return ["3.1.1"];
  return ["5", "3.1.1"];
}

function scan(): Named[] {
  const named: Named[] = [];
  for (const dir of ["tests", "broker", "protocol"]) {
    for (const path of files(join(ROOT, dir))) {
      if (!isTestSource(path)) continue;
      for (const line of readFileSync(path, "utf8").split("\n")) {
        const trimmed = line.trim();
        if (trimmed.startsWith("//") || trimmed.startsWith("*")) continue;
        for (const m of trimmed.matchAll(LITERAL)) {
          const name = m[2]!;
          const ids = [...new Set([...name.matchAll(ID)].map((x) => x[1]!))];
          named.push({ file: relative(ROOT, path), name, ids, versions: versionsOf(name) });
        }
      }
    }
  }
  return named;
}

function escape(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("`", "'");
}

function section(title: string, version: "5" | "3.1.1", list: [string, string][], named: Named[]) {
  const lines: string[] = [];
  let covered = 0;
  const rows: string[] = [];
  for (const [id, text] of list) {
    const tests = named.filter((n) => n.versions.includes(version) && n.ids.includes(id));
    if (tests.length > 0) covered++;
    const cell = tests.length === 0
      ? "—"
      : tests.map((t) => `${t.file}: ${escape(t.name)}`).join("<br>");
    rows.push(`| ${id} | ${escape(text)} | ${cell} |`);
  }
  lines.push(`## ${title}`, "");
  lines.push(`${covered} of ${list.length} statements are named by a test.`, "");
  lines.push("| id | statement (paraphrased) | tests |", "| --- | --- | --- |", ...rows, "");
  return { lines, covered };
}

function render(): string {
  const named = scan();
  const v5 = section("MQTT 5.0", "5", V5, named);
  const v3 = section("MQTT 3.1.1", "3.1.1", V311, named);
  const known5 = new Set(V5.map(([id]) => id));
  const known3 = new Set(V311.map(([id]) => id));
  const unknown = [...new Set(named.flatMap((n) => n.ids))]
    .filter((id) => !known5.has(id) && !known3.has(id))
    .sort();
  const out = [
    "# Conformance",
    "",
    "Generated by `deno run -A scripts/conformance_report.ts`; do not edit by hand.",
    "",
    "The server-side normative statements of MQTT 5.0 and MQTT 3.1.1 (paraphrased; the",
    "specifications are the reference), each with the tests whose names cite its id. A test name",
    "that says `v5` counts for MQTT 5.0 only, one that says `v3.1.1` or `v4` for MQTT 3.1.1 only,",
    "others for both. Statements that only bind clients are left out.",
    "",
    "| specification | statements | named by a test | share |",
    "| --- | --- | --- | --- |",
    `| MQTT 5.0 | ${V5.length} | ${v5.covered} | ${Math.round((100 * v5.covered) / V5.length)}% |`,
    `| MQTT 3.1.1 | ${V311.length} | ${v3.covered} | ${
      Math.round((100 * v3.covered) / V311.length)
    }% |`,
    "",
    ...v5.lines,
    ...v3.lines,
  ];
  if (unknown.length > 0) {
    out.push(
      "## Ids cited by tests but not listed above",
      "",
      "Client-side statements or ones missing from the lists: " +
        unknown.map((id) => `MQTT-${id}`).join(", "),
      "",
    );
  }
  return out.join("\n");
}

// Format like `deno fmt` would (tables aligned, prose wrapped), so the file passes the gate.
function format(markdown: string): string {
  if (process.versions.deno === undefined) {
    throw new Error("Cannot format docs/conformance.md: run this script with deno");
  }
  const result = spawnSync(process.execPath, ["fmt", "--ext=md", "--line-width=100", "-"], {
    input: markdown,
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(`Cannot format docs/conformance.md: ${result.stderr}`);
  return result.stdout;
}

const text = format(render() + "\n");
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(OUTPUT, "utf8");
  } catch {
    // missing: stale
  }
  if (current !== text) {
    console.error("docs/conformance.md is stale: run deno run -A scripts/conformance_report.ts");
    process.exit(1);
  }
} else {
  writeFileSync(OUTPUT, text);
  console.log(`wrote ${relative(ROOT, OUTPUT)}`);
}

import { describe, test } from "../tests/_testing.ts";
import assert from "node:assert/strict";
import {
  ConfigError,
  ConfigErrorKind,
  detectConfigFormat,
  parseBrokerConfig,
  type ParseBrokerConfigOptions,
  parseDuration,
} from "./config.ts";

function fails(
  text: string,
  expected: { line: number; key: string | undefined; kind: ConfigErrorKind },
  options: ParseBrokerConfigOptions = {},
  file = "mq.yaml",
): void {
  assert.throws(() => parseBrokerConfig(text, file, options), (error: unknown) => {
    assert.ok(error instanceof ConfigError, String(error));
    assert.deepEqual(
      { file: error.file, line: error.line, key: error.key, kind: error.kind },
      { file, ...expected },
    );
    return true;
  });
}

describe("parseBrokerConfig() YAML", () => {
  test("parseBrokerConfig() maps every supported option", () => {
    const config = parseBrokerConfig(
      [
        "# mq broker",
        "listeners:",
        "  - port: 1883",
        "  - port: 8883",
        "    bind_address: 127.0.0.1",
        "    max_connections: 50",
        "    certfile: server.crt",
        "    keyfile: server.key",
        "    cafile: ca.crt",
        "max_inflight_messages: 10",
        "max_queued_messages: 100",
        "max_queued_bytes: 4096",
        "queue_qos0_messages: true",
        "back_pressure_timeout: 250",
        "allow_duplicate_messages: true",
        "max_topic_length: 1024",
        "max_topic_levels: 16",
        "max_subscriptions_per_client: 100",
        "max_client_id_length: 64",
        "max_packet_size: 65536",
        "max_keepalive: 120",
        "max_topic_alias: 5",
        "max_qos: 1",
        "retain_available: false",
        "persistent_client_expiration: 2d",
        "sys_interval: 0",
        "connect_timeout: 5",
        "allow_zero_length_clientid: false",
        "auto_id_prefix: dev-",
        "response_information: replies/",
        "allow_anonymous: true",
        "password_file: /etc/mq/passwd",
        "acl_file: /etc/mq/acl",
        "log_type: [error, warning]",
        "log_timestamp: false",
        "log_dest: stderr",
      ].join("\n"),
      "mq.yaml",
    );
    assert.equal(config.format, "yaml");
    assert.deepEqual(config.options, {
      maxInflightMessages: 10,
      maxQueuedMessages: 100,
      maxQueuedBytes: 4096,
      queueQos0Messages: true,
      backPressureTimeout: 250,
      allowDuplicateMessages: true,
      maxTopicLength: 1024,
      maxTopicLevels: 16,
      maxSubscriptionsPerClient: 100,
      maxClientIdLength: 64,
      maxPacketSize: 65536,
      maxKeepalive: 120,
      maxTopicAlias: 5,
      maxQos: 1,
      retainAvailable: false,
      persistentClientExpiration: 172_800,
      sysInterval: 0,
      connectTimeout: 5,
      allowZeroLengthClientId: false,
      autoIdPrefix: "dev-",
      responseInformation: "replies/",
      logTypes: ["error", "warning"],
      listeners: [{ hostname: "0.0.0.0", port: 1883 }, {
        hostname: "127.0.0.1",
        port: 8883,
        maxConnections: 50,
      }],
    });
    assert.deepEqual(config.listeners[1], {
      hostname: "127.0.0.1",
      port: 8883,
      maxConnections: 50,
      certfile: "server.crt",
      keyfile: "server.key",
      cafile: "ca.crt",
      line: 4,
    });
    assert.equal(config.allowAnonymous, true);
    assert.equal(config.allowAnonymousSet, true);
    assert.equal(config.passwordFile, "/etc/mq/passwd");
    assert.equal(config.aclFile, "/etc/mq/acl");
    assert.equal(config.logTimestamp, false);
    assert.deepEqual(config.warnings, []);
  });

  test("parseBrokerConfig() allows anonymous clients only without listeners by default", () => {
    const none = parseBrokerConfig("max_qos: 2\n", "mq.yaml");
    assert.equal(none.allowAnonymous, true);
    assert.equal(none.options.listeners, undefined);
    assert.deepEqual(none.listeners, []);
    const one = parseBrokerConfig("listener: 1883\n", "mq.yaml");
    assert.equal(one.allowAnonymous, false);
    assert.equal(one.allowAnonymousSet, false);
    assert.deepEqual(one.options.listeners, [{ hostname: "0.0.0.0", port: 1883 }]);
    const empty = parseBrokerConfig("", "mq.yaml");
    assert.equal(empty.allowAnonymous, true);
  });

  test("parseBrokerConfig() takes listener as a mapping or a port", () => {
    const config = parseBrokerConfig(
      "listener:\n  port: 1884\n  bind_address: ::1\nlisteners: [1885, {port: 0}]\n",
      "mq.yaml",
    );
    assert.deepEqual(config.options.listeners, [
      { hostname: "::1", port: 1884 },
      { hostname: "0.0.0.0", port: 1885 },
      { hostname: "0.0.0.0", port: 0 },
    ]);
  });

  test("parseBrokerConfig() substitutes environment variables", () => {
    const config = parseBrokerConfig(
      [
        "listeners:",
        "  - port: ${PORT}",
        "max_qos: ${QOS:-1}",
        "allow_anonymous: ${ANON}",
        "auto_id_prefix: $${HOST}-${HOST}",
        "password_file: ${DIR}/passwd",
      ].join("\n"),
      "mq.yaml",
      { env: { PORT: "1999", ANON: "true", HOST: "pi", DIR: "/etc/mq" } },
    );
    assert.deepEqual(config.options.listeners, [{ hostname: "0.0.0.0", port: 1999 }]);
    assert.equal(config.options.maxQos, 1);
    assert.equal(config.allowAnonymous, true);
    assert.equal(config.options.autoIdPrefix, "${HOST}-pi");
    assert.equal(config.passwordFile, "/etc/mq/passwd");
  });

  test("parseBrokerConfig() refuses an unset environment variable", () => {
    fails("\nmax_qos: ${NOPE}\n", { line: 2, key: "max_qos", kind: ConfigErrorKind.Variable });
  });

  test("parseBrokerConfig() refuses unknown keys", () => {
    fails("max_qos: 1\nmax_cheese: 3\n", {
      line: 2,
      key: "max_cheese",
      kind: ConfigErrorKind.UnknownKey,
    });
    fails("listeners:\n  - port: 1\n    colour: red\n", {
      line: 3,
      key: "colour",
      kind: ConfigErrorKind.UnknownKey,
    });
  });

  test("parseBrokerConfig() refuses values of the wrong type", () => {
    fails("allow_anonymous: yes\n", {
      line: 1,
      key: "allow_anonymous",
      kind: ConfigErrorKind.Type,
    });
    fails("\n\nmax_inflight_messages: many\n", {
      line: 3,
      key: "max_inflight_messages",
      kind: ConfigErrorKind.Type,
    });
    fails('max_qos: "1"\n', { line: 1, key: "max_qos", kind: ConfigErrorKind.Type });
    fails("auto_id_prefix: [a]\n", {
      line: 1,
      key: "auto_id_prefix",
      kind: ConfigErrorKind.Type,
    });
    fails("listeners: 1883\n", { line: 1, key: "listeners", kind: ConfigErrorKind.Type });
    fails("- a\n", { line: 1, key: undefined, kind: ConfigErrorKind.Type });
  });

  test("parseBrokerConfig() refuses out-of-range values", () => {
    fails("max_qos: 3\n", { line: 1, key: "max_qos", kind: ConfigErrorKind.Range });
    fails("max_keepalive: 70000\n", {
      line: 1,
      key: "max_keepalive",
      kind: ConfigErrorKind.Range,
    });
    fails("max_packet_size: 10\n", {
      line: 1,
      key: "max_packet_size",
      kind: ConfigErrorKind.Range,
    });
    fails("persistent_client_expiration: 3x\n", {
      line: 1,
      key: "persistent_client_expiration",
      kind: ConfigErrorKind.Range,
    });
    fails("listeners:\n  - port: 70000\n", { line: 2, key: "port", kind: ConfigErrorKind.Range });
    fails("log_type: [error, chatter]\n", {
      line: 1,
      key: "log_type",
      kind: ConfigErrorKind.Range,
    });
  });

  test("parseBrokerConfig() refuses a duplicate listener port", () => {
    fails("listeners:\n  - port: 1883\n  - port: 1884\n  - port: 1883\n", {
      line: 4,
      key: "listener",
      kind: ConfigErrorKind.Duplicate,
    });
    const ok = parseBrokerConfig(
      "listeners:\n  - {port: 1883, bind_address: 127.0.0.1}\n  - {port: 1883, bind_address: ::1}\n",
      "mq.yaml",
    );
    assert.equal(ok.listeners.length, 2);
  });

  test("parseBrokerConfig() refuses a listener without port or with half of TLS", () => {
    fails("listeners:\n  - bind_address: 127.0.0.1\n", {
      line: 2,
      key: "port",
      kind: ConfigErrorKind.Missing,
    });
    fails("listeners:\n  - port: 8883\n    certfile: a.crt\n", {
      line: 2,
      key: "certfile",
      kind: ConfigErrorKind.Missing,
    });
  });

  test("parseBrokerConfig() reports YAML syntax errors with their line", () => {
    fails("max_qos: 1\nlisteners: [\n", { line: 3, key: undefined, kind: ConfigErrorKind.Syntax });
    fails("max_qos: 1\nmax_qos: 2\n", { line: 2, key: undefined, kind: ConfigErrorKind.Syntax });
  });

  test("parseBrokerConfig() warns about unsupported options, or refuses them when strict", () => {
    const config = parseBrokerConfig("pid_file: /run/mq.pid\nmax_qos: 1\n", "mq.yaml");
    assert.equal(config.options.maxQos, 1);
    assert.deepEqual(
      config.warnings.map((w) => ({ file: w.file, line: w.line, key: w.key })),
      [{ file: "mq.yaml", line: 1, key: "pid_file" }],
    );
    fails("max_qos: 1\npid_file: /run/mq.pid\n", {
      line: 2,
      key: "pid_file",
      kind: ConfigErrorKind.Unsupported,
    }, { strict: true });
  });

  test("parseBrokerConfig() refuses unsupported options that guard access", () => {
    fails("plugin: /usr/lib/x.so\n", { line: 1, key: "plugin", kind: ConfigErrorKind.Unsupported });
    fails("listeners:\n  - port: 1\n    psk_hint: hint\n", {
      line: 3,
      key: "psk_hint",
      kind: ConfigErrorKind.Unsupported,
    });
    fails("listeners:\n  - port: 1\n    protocol: http\n", {
      line: 3,
      key: "protocol",
      kind: ConfigErrorKind.Range,
    });
    const off = parseBrokerConfig("require_certificate: false\n", "mq.yaml");
    assert.deepEqual(off.warnings, []);
  });
});

describe("parseBrokerConfig() client certificates", () => {
  test("parseBrokerConfig() reads require_certificate, identity options and tls_version", () => {
    const config = parseBrokerConfig(
      [
        "listener 8883",
        "certfile s.pem",
        "keyfile s.key",
        "cafile ca.pem",
        "require_certificate true",
        "use_identity_as_username true",
        "tls_version tlsv1.3",
        "listener 8884",
        "certfile s.pem",
        "keyfile s.key",
        "use_subject_as_username true",
        "tls_version tlsv1.1",
      ].join("\n"),
      "m.conf",
    );
    assert.deepEqual(config.listeners[0], {
      hostname: "0.0.0.0",
      port: 8883,
      certfile: "s.pem",
      keyfile: "s.key",
      cafile: "ca.pem",
      requireCertificate: true,
      useIdentityAsUsername: true,
      tlsVersion: "TLSv1.3",
      line: 1,
    });
    assert.equal(config.listeners[1]!.useSubjectAsUsername, true);
    assert.equal(config.listeners[1]!.tlsVersion, undefined);
    assert.deepEqual(config.warnings.map((w) => [w.line, w.key]), [[12, "tls_version"]]);
  });

  test("parseBrokerConfig() gives listeners their own security settings", () => {
    const conf = parseBrokerConfig(
      [
        "per_listener_settings true",
        "allow_anonymous false",
        "listener 1883",
        "allow_anonymous true",
        "listener 8883",
        "password_file pw",
        "acl_file acl",
      ].join("\n"),
      "m.conf",
    );
    assert.equal(conf.allowAnonymous, false);
    assert.equal(conf.listeners[0]!.allowAnonymous, true);
    assert.equal(conf.listeners[1]!.passwordFile, "pw");
    assert.equal(conf.listeners[1]!.aclFile, "acl");
    assert.equal(conf.passwordFile, undefined);
    // Without per_listener_settings they are global, wherever they appear.
    const global = parseBrokerConfig("listener 1883\npassword_file pw\n", "m.conf");
    assert.equal(global.passwordFile, "pw");
    assert.equal(global.listeners[0]!.passwordFile, undefined);
    // A YAML listener's own keys are its own.
    const yaml = parseBrokerConfig(
      "password_file: all\nlisteners:\n  - port: 1\n    password_file: own\n  - port: 2\n",
      "y",
    );
    assert.equal(yaml.passwordFile, "all");
    assert.equal(yaml.listeners[0]!.passwordFile, "own");
    assert.equal(yaml.listeners[1]!.passwordFile, undefined);
  });

  test("parseBrokerConfig() reads a listener's protocol_versions", () => {
    const yaml = parseBrokerConfig("listeners:\n  - port: 1\n    protocol_versions: [4, 5]\n", "y");
    assert.deepEqual(yaml.listeners[0]!.protocolVersions, [4, 5]);
    const conf = parseBrokerConfig("listener 1\nprotocol_versions 5\n", "m.conf");
    assert.deepEqual(conf.options.listeners, [{
      hostname: "0.0.0.0",
      port: 1,
      protocolVersions: [5],
    }]);
    fails(
      "listener 1\nprotocol_versions 4 6\n",
      { line: 2, key: "protocol_versions", kind: "range" },
      {},
      "m.conf",
    );
  });

  test("parseBrokerConfig() reads mount_point and a listener's max_qos", () => {
    const conf = parseBrokerConfig(
      "max_qos 2\nlistener 1883\nlistener 1884\nmount_point site1/\nmax_qos 1\n",
      "m.conf",
    );
    assert.equal(conf.options.maxQos, 2);
    assert.deepEqual(conf.options.listeners, [
      { hostname: "0.0.0.0", port: 1883 },
      { hostname: "0.0.0.0", port: 1884, mountPoint: "site1/", maxQos: 1 },
    ]);
  });

  test("parseBrokerConfig() reads the persistence options", () => {
    const conf = parseBrokerConfig(
      "persistence true\npersistence_location /var/lib/mq/\nautosave_interval 1800\n",
      "m.conf",
    );
    assert.deepEqual(conf.persistence, { file: "/var/lib/mq/mq.db", sync: "normal" });
    assert.deepEqual(conf.warnings, []);
    const yaml = parseBrokerConfig(
      "persistence: true\npersistence_file: /data/s.db\npersistence_sync: full\n",
      "y",
    );
    assert.deepEqual(yaml.persistence, { file: "/data/s.db", sync: "full" });
    assert.equal(parseBrokerConfig("persistence false\n", "m.conf").persistence, undefined);
    fails("persistence_sync: always\n", { line: 1, key: "persistence_sync", kind: "range" });
  });

  test("parseBrokerConfig() reads WebSocket listeners", () => {
    const conf = parseBrokerConfig(
      "listener 1883\nlistener 9001\nprotocol websockets\nwebsockets_headers_size 4096\n",
      "m.conf",
    );
    assert.deepEqual(conf.options.listeners, [
      { hostname: "0.0.0.0", port: 1883 },
      {
        hostname: "0.0.0.0",
        port: 9001,
        protocol: "websockets",
        websocket: { maxHeaderBytes: 4096 },
      },
    ]);
    const yaml = parseBrokerConfig("listeners:\n  - port: 9001\n    protocol: websockets\n", "y");
    assert.equal(yaml.listeners[0]!.protocol, "websockets");
  });

  test("parseBrokerConfig() refuses client certificate options without what they need", () => {
    const at = (text: string, line: number, key: string, kind: ConfigErrorKind) =>
      fails(text, { line, key, kind }, {}, "m.conf");
    at("listener 1\nrequire_certificate true\n", 1, "require_certificate", "missing");
    at("listener 1\nuse_identity_as_username true\n", 1, "use_identity_as_username", "missing");
    at(
      "listener 1\ncertfile a\nkeyfile b\nrequire_certificate true\n",
      1,
      "require_certificate",
      "missing",
    );
    at("listener 1\ntls_version sslv3\n", 2, "tls_version", "range");
  });
});

describe("parseBrokerConfig() mosquitto.conf", () => {
  test("parseBrokerConfig() reads mosquitto.conf options and listener sections", () => {
    const config = parseBrokerConfig(
      [
        "# mosquitto.conf",
        "per_listener_settings false",
        "allow_anonymous false",
        "password_file /etc/mosquitto/passwd",
        "",
        "listener 1883",
        "listener 8883 127.0.0.1",
        "certfile /etc/tls/server crt.pem",
        "keyfile /etc/tls/server.key",
        "max_inflight_messages 0",
        "persistent_client_expiration 1h",
        "log_type error",
        "log_type notice",
        "  max_keepalive 60",
        "retain_available false",
        "auto_id_prefix my id-",
      ].join("\n"),
      "/etc/mosquitto/mosquitto.conf",
    );
    assert.equal(config.format, "mosquitto");
    assert.deepEqual(config.listeners, [
      { hostname: "0.0.0.0", port: 1883, line: 6 },
      {
        hostname: "127.0.0.1",
        port: 8883,
        certfile: "/etc/tls/server crt.pem",
        keyfile: "/etc/tls/server.key",
        line: 7,
      },
    ]);
    assert.equal(config.options.maxInflightMessages, 65_535);
    assert.equal(config.options.persistentClientExpiration, 3600);
    assert.deepEqual(config.options.logTypes, ["error", "notice"]);
    assert.equal(config.options.maxKeepalive, 60);
    assert.equal(config.options.retainAvailable, false);
    assert.equal(config.options.autoIdPrefix, "my id-");
    assert.equal(config.allowAnonymous, false);
    assert.equal(config.passwordFile, "/etc/mosquitto/passwd");
  });

  test("parseBrokerConfig() makes port and top-level listener options the default listener", () => {
    const config = parseBrokerConfig(
      "port 1884\nbind_address 127.0.0.1\nmax_connections 3\nlistener 1885\nmax_connections -1\n",
      "m.conf",
    );
    assert.deepEqual(config.options.listeners, [
      { hostname: "127.0.0.1", port: 1884, maxConnections: 3 },
      { hostname: "0.0.0.0", port: 1885 },
    ]);
  });

  test("parseBrokerConfig() warns with file and line about unsupported mosquitto options", () => {
    const config = parseBrokerConfig(
      "listener 1883\npid_file /run/m.pid\nuser mosquitto\n" +
        "http_dir /www\nlog_dest file /var/log/mosquitto.log\nplugin_opt_x 1\n",
      "m.conf",
    );
    assert.deepEqual(
      config.warnings.map((w) => [w.file, w.line, w.key]),
      [
        ["m.conf", 2, "pid_file"],
        ["m.conf", 3, "user"],
        ["m.conf", 4, "http_dir"],
        ["m.conf", 5, "log_dest"],
        ["m.conf", 6, "plugin_opt_x"],
      ],
    );
    fails(
      "listener 1883\nhttp_dir /www\n",
      {
        line: 2,
        key: "http_dir",
        kind: ConfigErrorKind.Unsupported,
      },
      { strict: true },
      "m.conf",
    );
  });

  test("parseBrokerConfig() reports every mosquitto.conf error kind", () => {
    const at = (text: string, line: number, key: string, kind: ConfigErrorKind) =>
      fails(text, { line, key, kind }, {}, "m.conf");
    at("listener 1883\nfoo_bar 3\n", 2, "foo_bar", ConfigErrorKind.UnknownKey);
    at("listener 1883\nmax_inflight_messages abc\n", 2, "max_inflight_messages", "type");
    at("listener 1883\nallow_anonymous maybe\n", 2, "allow_anonymous", "type");
    at("listener 1883\nmax_qos 5\n", 2, "max_qos", "range");
    at("persistent_client_expiration 3x\n", 1, "persistent_client_expiration", "range");
    at("listener 1883\nlistener 1883\n", 2, "listener", ConfigErrorKind.Duplicate);
    at("listener 99999\n", 1, "listener", "range");
    at("listener\n", 1, "listener", ConfigErrorKind.Missing);
    at("listener 1 a b\n", 1, "listener", ConfigErrorKind.Syntax);
    at("listener 1\nauth_plugin /x.so\n", 2, "auth_plugin", ConfigErrorKind.Unsupported);
    at("password_file\n", 1, "password_file", ConfigErrorKind.Missing);
  });

  test("parseBrokerConfig() leaves ${VAR} alone in mosquitto.conf", () => {
    const config = parseBrokerConfig("auto_id_prefix ${X}\n", "m.conf", { env: { X: "y" } });
    assert.equal(config.options.autoIdPrefix, "${X}");
  });
});

describe("config helpers", () => {
  test("detectConfigFormat() tells mosquitto.conf from YAML", () => {
    assert.equal(detectConfigFormat("listener 1883\n"), "mosquitto");
    assert.equal(detectConfigFormat("\n# c\nallow_anonymous true\n"), "mosquitto");
    assert.equal(detectConfigFormat("persistence\n"), "mosquitto");
    assert.equal(detectConfigFormat("listener: 1883\n"), "yaml");
    assert.equal(detectConfigFormat("---\nmax_qos: 1\n"), "yaml");
    assert.equal(detectConfigFormat("{max_qos: 1}\n"), "yaml");
    assert.equal(detectConfigFormat(""), "yaml");
  });

  test("parseDuration() reads mosquitto's units", () => {
    assert.equal(parseDuration("1h"), 3600);
    assert.equal(parseDuration("1w"), 604_800);
    assert.equal(parseDuration("1m"), 2_592_000);
    assert.equal(parseDuration("1y"), 31_536_000);
    assert.equal(parseDuration("10"), undefined);
    assert.equal(parseDuration("h"), undefined);
  });
});

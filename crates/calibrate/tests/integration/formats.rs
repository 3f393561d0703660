//! Fixture lines taken from each format's documentation parse to the right fields.

use stacksim_calibrate::{LogFormat, LogRecord, read_log};

fn one(format: Option<LogFormat>, text: &str) -> (LogFormat, LogRecord) {
    let mut records = Vec::new();
    let stats = read_log("fixture", text.as_bytes(), format, |r| records.push(r)).unwrap();
    assert_eq!(stats.bad, 0, "{:?}", stats.errors);
    (stats.format, records.pop().unwrap())
}

#[test]
fn apache_combined_example_from_the_apache_docs() {
    // https://httpd.apache.org/docs/2.4/logs.html#combined
    let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
    let (format, r) = one(None, line);
    assert_eq!(format, LogFormat::Combined);
    assert_eq!(r.time_s, 971_211_336.0); // 2000-10-10T20:55:36Z
    assert_eq!(r.status, Some(200));
    assert_eq!(r.path.as_deref(), Some("/apache_pb.gif"));
    assert_eq!(r.client.as_deref(), Some("frank"));
    assert_eq!(r.latency_s, None);
}

#[test]
fn apache_percent_d_is_microseconds() {
    let line = r#"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.0" 200 2326 "-" "curl" 125000"#;
    let (_, r) = one(Some(LogFormat::Combined), line);
    assert_eq!(r.latency_s, Some(0.125));
    assert_eq!(r.client.as_deref(), Some("127.0.0.1"));
}

#[test]
fn nginx_combined_with_request_and_upstream_times() {
    // log_format timed '$remote_addr - $remote_user [$time_local] "$request" $status
    //   $body_bytes_sent "$http_referer" "$http_user_agent" $request_time
    //   $upstream_response_time $upstream_addr'; (variables from
    // https://nginx.org/en/docs/http/ngx_http_upstream_module.html#var_upstream_response_time)
    let line = r#"192.168.1.20 - - [08/Mar/2024:14:00:01 +0000] "GET /api/users/42?x=1 HTTP/1.1" 200 512 "-" "curl/8.0" 0.153 0.150 10.0.0.7:8080"#;
    let (_, r) = one(None, line);
    assert_eq!(r.latency_s, Some(0.153));
    assert_eq!(r.service_s, Some(0.150));
    assert_eq!(r.backend.as_deref(), Some("10.0.0.7:8080"));
    assert_eq!(r.path.as_deref(), Some("/api/users/42"));
}

#[test]
fn haproxy_httplog_example_from_the_haproxy_manual() {
    // https://docs.haproxy.org/2.8/configuration.html#8.2.3
    let line = r#"Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1""#;
    let (format, r) = one(None, line);
    assert_eq!(format, LogFormat::Haproxy);
    assert_eq!(r.time_s, 1_233_922_454.655);
    assert_eq!(r.queue_s, Some(0.0)); // Tw
    assert_eq!(r.service_s, Some(0.069)); // Tr
    assert_eq!(r.latency_s, Some(0.109)); // Ta
    assert_eq!(r.backend.as_deref(), Some("srv1"));
    assert_eq!(r.status, Some(200));
    assert_eq!(r.server_conn, Some(1));
    assert_eq!(r.path.as_deref(), Some("/index.html"));
    assert_eq!(r.client.as_deref(), Some("10.0.1.2"));
}

#[test]
fn haproxy_aborted_request_has_no_server_time() {
    // The manual's example of a request that the client aborted (section 8.5).
    let line = r#"haproxy[18113]: 127.0.0.1:34549 [15/Oct/2003:15:19:06.103] px-http px-http/<NOSRV> -1/-1/-1/-1/+50001 408 +2750 - - cR-- 2/2/2/0/+2 0/0 """#;
    let (_, r) = one(Some(LogFormat::Haproxy), line);
    assert_eq!(r.backend, None);
    assert_eq!(r.service_s, None);
    assert_eq!(r.latency_s, Some(50.001));
    assert_eq!(r.status, Some(408));
}

#[test]
fn envoy_json_with_istio_keys() {
    // Istio's JSON access log encoding of Envoy's default format
    // (https://istio.io/latest/docs/tasks/observability/logs/access-log/).
    let line = r#"{"authority":"httpbin:8000","bytes_received":0,"bytes_sent":135,"downstream_local_address":"10.44.1.27:80","downstream_remote_address":"10.44.1.23:37652","duration":4,"method":"GET","path":"/status/418","protocol":"HTTP/1.1","request_id":"fd62c9fb","response_code":418,"response_flags":"-","start_time":"2023-04-18T20:53:13.158Z","upstream_cluster":"inbound|80||","upstream_host":"10.44.1.27:80","upstream_service_time":"3","user_agent":"curl/7.88.1"}"#;
    let (format, r) = one(None, line);
    assert_eq!(format, LogFormat::Envoy);
    assert_eq!(r.latency_s, Some(0.004));
    assert_eq!(r.service_s, Some(0.003));
    assert_eq!(r.backend.as_deref(), Some("10.44.1.27:80"));
    assert_eq!(r.status, Some(418));
    assert_eq!(r.client.as_deref(), Some("10.44.1.23"));
    assert_eq!(r.path.as_deref(), Some("/status/418"));
    assert!((r.time_s - 1_681_851_193.158).abs() < 1e-6);
}

#[test]
fn csv_and_json_lines_with_named_columns() {
    let csv =
        "time,latency_ms,service_ms,backend,status,user\n2024-03-08T14:00:00Z,120,100,app-1,503,alice\n";
    let (format, r) = one(None, csv);
    assert_eq!(format, LogFormat::Csv);
    assert_eq!((r.latency_s, r.service_s), (Some(0.12), Some(0.1)));
    assert_eq!(r.backend.as_deref(), Some("app-1"));
    assert!(r.is_error());
    let (format, r) = one(None, r#"{"time": 1709906400.5, "latency_s": 0.25, "backend": "b"}"#);
    assert_eq!(format, LogFormat::Envoy);
    assert_eq!((r.time_s, r.latency_s), (1_709_906_400.5, Some(0.25)));
}

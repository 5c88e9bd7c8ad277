//! `ClientBuilder::trace`: a client-wide trace sees every request; a request's own trace is
//! composed with it (the request's hooks first).

use std::sync::{Arc, Mutex};

use httptrace::{Body, Client, ClientTrace, RequestTraceExt};
use httptrace_peers::Server;

type Log = Arc<Mutex<Vec<String>>>;

fn tagged(tag: &'static str, log: &Log) -> ClientTrace {
    let (a, b, c) = (log.clone(), log.clone(), log.clone());
    ClientTrace::new()
        .on_get_conn(move |hp| a.lock().unwrap().push(format!("{tag} get_conn {hp}")))
        .on_got_conn(move |i| {
            b.lock()
                .unwrap()
                .push(format!("{tag} got_conn reused={}", i.reused))
        })
        .on_wrote_request(move |_| c.lock().unwrap().push(format!("{tag} wrote_request")))
}

async fn get(client: &Client, url: &str, own: Option<ClientTrace>) {
    let mut req = http::Request::get(url).body(Body::empty()).unwrap();
    if let Some(t) = own {
        req = req.with_trace(t);
    }
    let resp = client.execute(req).await.expect("request");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.into_body().drain().await.expect("body"), 13);
}

#[tokio::test]
async fn client_wide_trace_sees_every_request_and_composes_with_the_requests_own() {
    let srv = Server::hello().start().await.unwrap();
    let url = srv.url("/");
    let log: Log = Arc::default();
    let client = Client::builder()
        .no_proxy()
        .trace(tagged("client", &log))
        .build()
        .unwrap();
    let hp = format!("127.0.0.1:{}", srv.port());

    get(&client, &url, None).await;
    assert_eq!(
        std::mem::take(&mut *log.lock().unwrap()),
        vec![
            format!("client get_conn {hp}"),
            "client got_conn reused=false".to_string(),
            "client wrote_request".to_string(),
        ]
    );

    get(&client, &url, Some(tagged("request", &log))).await;
    assert_eq!(
        std::mem::take(&mut *log.lock().unwrap()),
        vec![
            format!("request get_conn {hp}"),
            format!("client get_conn {hp}"),
            "request got_conn reused=true".to_string(),
            "client got_conn reused=true".to_string(),
            "request wrote_request".to_string(),
            "client wrote_request".to_string(),
        ]
    );
}

#[tokio::test]
async fn client_trace_called_twice_composes_newer_first_and_empty_is_ignored() {
    let srv = Server::hello().start().await.unwrap();
    let log: Log = Arc::default();
    let client = Client::builder()
        .no_proxy()
        .trace(tagged("first", &log))
        .trace(ClientTrace::new())
        .trace(tagged("second", &log))
        .build()
        .unwrap();
    get(&client, &srv.url("/"), None).await;
    let got = std::mem::take(&mut *log.lock().unwrap());
    let hp = format!("127.0.0.1:{}", srv.port());
    assert_eq!(
        got[..2],
        [
            format!("second get_conn {hp}"),
            format!("first get_conn {hp}")
        ]
    );
    assert_eq!(got.len(), 6, "{got:?}");
}

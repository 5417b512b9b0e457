use std::time::Duration;

use futures::StreamExt as _;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::*;

async fn next<S: futures::Stream + Unpin>(s: &mut S, within: Duration) -> Option<S::Item> {
    tokio::time::timeout(within, s.next()).await.ok().flatten()
}

#[tokio::test]
async fn no_more_connections_open_than_slots_and_a_closed_one_lets_the_next_in() {
    let listener = bind(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop) = watch::channel(false);
    let mut admitted = incoming(listener, 2, |tcp| std::future::ready(Ok(tcp)), stop);
    let mut clients = vec![];
    for _ in 0..3 {
        clients.push(TcpStream::connect(addr).await.unwrap());
    }
    let first = next(&mut admitted, Duration::from_secs(5)).await.unwrap();
    let second = next(&mut admitted, Duration::from_secs(5)).await.unwrap();
    assert!(first.is_ok() && second.is_ok());
    // The third waits in the accept queue while both slots are taken ...
    assert!(
        next(&mut admitted, Duration::from_millis(300))
            .await
            .is_none()
    );
    // ... and is accepted once a connection closes.
    drop(first);
    let third = next(&mut admitted, Duration::from_secs(5)).await.unwrap();
    let peer = third.unwrap().io.peer_addr().unwrap();
    assert_eq!(peer, clients[2].local_addr().unwrap());
    stop_tx.send_replace(true);
    drop(second);
    assert!(next(&mut admitted, Duration::from_secs(5)).await.is_none());
}

#[tokio::test]
async fn a_failed_handshake_gives_its_slot_back() {
    let listener = bind(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop_tx, stop) = watch::channel(false);
    // Every connection from an even port fails its handshake.
    let handshake = |tcp: TcpStream| {
        let even = tcp.peer_addr().map(|a| a.port() % 2 == 0).unwrap_or(true);
        std::future::ready(if even {
            Err(io::Error::other("refused"))
        } else {
            Ok(tcp)
        })
    };
    let mut admitted = incoming(listener, 1, handshake, stop);
    let mut clients = vec![];
    while clients.len() < 6 {
        clients.push(TcpStream::connect(addr).await.unwrap());
    }
    let odd = clients
        .iter()
        .filter(|c| c.local_addr().unwrap().port() % 2 == 1)
        .count();
    // With one slot, each failed handshake frees it for the next connection: every good one
    // gets through, one after the other.
    let mut held = vec![];
    for _ in 0..odd {
        held.clear();
        held.push(
            next(&mut admitted, Duration::from_secs(5))
                .await
                .unwrap()
                .unwrap(),
        );
    }
}

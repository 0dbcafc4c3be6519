// Client side: a method the interface does not declare (say, a private method of the server
// type, never exposed) is not on the typed proxy.
use rpc_client::interface;

#[interface(name = "Counter")]
pub trait Counter {
    fn add(&mut self, n: i64) -> i64;
}

async fn use_it(counter: &CounterProxy) {
    let _ = counter.reset().await;
}

fn main() {
    let _ = use_it;
}

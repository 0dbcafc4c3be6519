// Client side: a #[field(readonly)] has a getter and no setter.
use rpc_client::interface;

#[interface(name = "Counter")]
pub trait Counter {
    #[field(readonly)]
    fn changes(&self) -> u64;
}

async fn use_it(counter: &CounterProxy) {
    let _ = counter.set_changes(0).await;
}

fn main() {
    let _ = use_it;
}

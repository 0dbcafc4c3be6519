//! `#[interface]` accepts every supported form (unit results, `Self`, proxies of other
//! interfaces as parameters, fields and results, `&str`, raw identifiers) and describes each
//! member with the signature text the server's DIR uses. No server needed: this checks the
//! generated declarations and `TypedProxy::members()`.

use rpc_client::typed::{MemberSpec, SpecKind, TypeSpec};
use rpc_client::{TypedProxy, interface};

/// A node of a tree on the server.
#[interface]
pub trait Node {
    /// Its label.
    #[field]
    fn label(&self) -> String;
    /// Its parent, a remote object.
    #[field(readonly)]
    fn parent(&self) -> NodeProxy;
    /// Its registry, a remote object of another interface.
    #[field]
    fn registry(&self) -> RegistryProxy;
    fn rename(&mut self, label: &str);
    fn adopt(&mut self, child: &NodeProxy, registry: &RegistryProxy) -> Self;
    fn r#type(&self) -> ();
    fn sizes(&self, limits: [u8; 2], pairs: Vec<(String, Option<u32>)>) -> Vec<u64>;
}

/// Holds nodes, by name (the server's type is `NodeRegistry`).
#[interface(name = "NodeRegistry")]
pub trait Registry {
    fn find(&self, name: String) -> NodeProxy;
    fn root(&self) -> Registry;
}

fn method(name: &'static str, params: Vec<(&'static str, TypeSpec)>, ret: TypeSpec) -> MemberSpec {
    MemberSpec {
        name,
        kind: SpecKind::Method { params, ret },
    }
}

#[test]
fn members_describe_the_declaration() {
    assert_eq!(NodeProxy::TYPE_NAME, "Node");
    assert_eq!(<RegistryProxy as TypedProxy>::TYPE_NAME, "NodeRegistry");
    assert_eq!(<RegistryProxy as TypedProxy>::INTERFACE, "Registry");
    let field = |name, ty, writable| MemberSpec {
        name,
        kind: SpecKind::Field { ty, writable },
    };
    assert_eq!(
        <NodeProxy as TypedProxy>::members(),
        [
            field("label", TypeSpec::Data("String"), true),
            field("parent", TypeSpec::Object("Node"), false),
            field("registry", TypeSpec::Object("NodeRegistry"), true),
            method(
                "rename",
                vec![("label", TypeSpec::Data("String"))],
                TypeSpec::Data("()")
            ),
            method(
                "adopt",
                vec![
                    ("child", TypeSpec::Object("Node")),
                    ("registry", TypeSpec::Object("NodeRegistry")),
                ],
                TypeSpec::Object("Node")
            ),
            method("type", vec![], TypeSpec::Data("()")),
            method(
                "sizes",
                vec![
                    ("limits", TypeSpec::Data("[u8; 2]")),
                    ("pairs", TypeSpec::Data("Vec<(String, Option<u32>)>")),
                ],
                TypeSpec::Data("Vec<u64>")
            ),
        ]
    );
    let signatures: Vec<String> = <NodeProxy as TypedProxy>::members()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        signatures,
        [
            "label: String",
            "parent: Remote<Node>",
            "registry: Remote<NodeRegistry>",
            "rename(label: String)",
            "adopt(child: Remote<Node>, registry: Remote<NodeRegistry>) -> Remote<Node>",
            "type()",
            "sizes(limits: [u8; 2], pairs: Vec<(String, Option<u32>)>) -> Vec<u64>",
        ]
    );
    assert_eq!(
        <RegistryProxy as TypedProxy>::members(),
        [
            method(
                "find",
                vec![("name", TypeSpec::Data("String"))],
                TypeSpec::Object("Node")
            ),
            method("root", vec![], TypeSpec::Object("NodeRegistry")),
        ]
    );
}

/// The generated methods have the declared types (checked by the compiler: this fn is never
/// run).
#[allow(dead_code)]
async fn generated_signatures(node: &NodeProxy, registry: &RegistryProxy) {
    let _: Result<String, rpc_client::CallError> = node.label().await;
    let _: Result<(), _> = node.set_label("a".to_owned()).await;
    let _: Result<NodeProxy, _> = node.parent().await;
    let _: Result<RegistryProxy, _> = node.registry().await;
    let _: Result<(), _> = node.set_registry(registry).await;
    let _: Result<(), _> = node.rename("b").await;
    let _: Result<NodeProxy, _> = node.adopt(node, registry).await;
    let _: Result<(), _> = node.r#type().await;
    let _: Result<Vec<u64>, _> = node.sizes([1, 2], vec![("x".to_owned(), None)]).await;
    let _: Result<NodeProxy, _> = registry.find("n".to_owned()).await;
    let _: Result<RegistryProxy, _> = registry.root().await;
    let _: &rpc_client::Proxy = node.proxy();
    let _: NodeProxy = node.with_timeout(std::time::Duration::from_secs(1));
    let _: Result<NodeProxy, _> = node.clone().checked().await;
    let _: rpc_client::Proxy = registry.clone().into_proxy();
}

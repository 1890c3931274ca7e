//! A role's permission flags, listed once: the `roles` table's columns, the REST API's role
//! schemas and the engine's [`Permissions`](crate::engine::Permissions) all follow this list.
//!
//! A new flag goes into [`for_each_role_flag!`], a migration (one file for both backends, in
//! `crowdwire-store/migrations/`) adds its column, and the code that checks it reads
//! `flags.<name>`.

/// Calls the macro `$callback` with every role flag, each after its doc comment, in the
/// order of the `roles` table's columns: `$callback! { #[doc = "…"] interact, … ban, }`.
/// The doc comments are also the flags' descriptions in the OpenAPI document.
///
/// [`RoleFlags`] is defined this way, and so are the REST API's role schemas: they need one
/// field per flag (each parsed leniently and named in its own parse errors, and listed as a
/// property of its own in the OpenAPI document).
#[macro_export]
macro_rules! for_each_role_flag {
    ($callback:ident) => {
        $callback! {
            /// Use interactive objects.
            interact,
            /// Move.
            walk,
            /// Speak in proximity groups.
            talk,
            /// Speak in conferences.
            talk_conference,
            /// Mute others.
            world_mute,
            /// Manage roles and members.
            role_manage,
            /// Grant the floor in conferences.
            conference_manage,
            /// Chat.
            chat,
            /// Create invite links.
            invite,
            /// Ban members, read user reports.
            ban,
        }
    };
}

macro_rules! role_flags {
    ($($(#[$doc:meta])* $flag:ident,)*) => {
        /// A role's permission flags.
        ///
        /// Absent fields deserialise as false: JSON written before a flag existed (a replica
        /// of an older version, over the bus or in presence) still reads.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct RoleFlags {
            $($(#[$doc])* pub $flag: bool,)*
        }

        impl RoleFlags {
            /// How many flags there are.
            pub const COUNT: usize = [$(stringify!($flag)),*].len();
            /// The flags' names, which are also their columns in `roles`, in column order.
            pub const NAMES: [&'static str; RoleFlags::COUNT] = [$(stringify!($flag)),*];
            /// Every flag granted.
            pub const ALL: RoleFlags = RoleFlags { $($flag: true),* };

            /// The flags' values, in [`NAMES`](RoleFlags::NAMES) order.
            pub fn to_array(self) -> [bool; RoleFlags::COUNT] {
                [$(self.$flag),*]
            }

            /// Flags from their values, in [`NAMES`](RoleFlags::NAMES) order.
            pub fn from_array(values: [bool; RoleFlags::COUNT]) -> RoleFlags {
                let [$($flag),*] = values;
                RoleFlags { $($flag),* }
            }
        }
    };
}

for_each_role_flag!(role_flags);

#[cfg(test)]
mod tests {
    use super::RoleFlags;
    use crate::engine::Permissions;

    #[test]
    fn arrays_follow_the_names() {
        let one = RoleFlags {
            talk_conference: true,
            ..RoleFlags::default()
        };
        let values = one.to_array();
        assert_eq!(
            RoleFlags::NAMES[values.iter().position(|v| *v).unwrap()],
            "talk_conference"
        );
        assert_eq!(RoleFlags::from_array(values), one);
        assert_eq!(RoleFlags::from_array([true; RoleFlags::COUNT]), RoleFlags::ALL);
        assert_eq!(RoleFlags::NAMES.len(), 10);
    }

    #[test]
    fn permissions_read_and_keep_the_json_of_replicas_from_before_role_flags() {
        // Before `RoleFlags`, `Permissions` had these eight flags and no `role_manage` or `invite`.
        let old = r#"{"role_id":2,"name":"Member","walk":true,"talk":true,"chat":false,"interact":true,
            "world_mute":false,"ban":false,"conference_manage":false,"talk_conference":true}"#;
        let read: Permissions = serde_json::from_str(old).unwrap();
        let want = RoleFlags {
            walk: true,
            talk: true,
            interact: true,
            talk_conference: true,
            ..RoleFlags::default()
        };
        assert_eq!(read.flags, want);
        let written = serde_json::to_value(&read).unwrap();
        let old: serde_json::Value = serde_json::from_str(old).unwrap();
        for (key, value) in old.as_object().unwrap() {
            assert_eq!(&written[key], value, "{key}");
        }
    }

    #[test]
    fn json_has_one_key_per_flag_and_absent_ones_are_false() {
        let json = serde_json::to_value(RoleFlags::ALL).unwrap();
        let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut names = RoleFlags::NAMES.to_vec();
        names.sort_unstable();
        assert_eq!(keys, names);
        let read: RoleFlags = serde_json::from_str(r#"{"walk": true}"#).unwrap();
        assert_eq!(
            read,
            RoleFlags {
                walk: true,
                ..RoleFlags::default()
            }
        );
    }
}

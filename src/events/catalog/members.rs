use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::{DomainEvent, Subject, SubjectKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberInvited {
    pub invitation_id: Uuid,
    pub email: String,
    pub role: String,
}

impl DomainEvent for MemberInvited {
    const TYPE: &'static str = "member.invited";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Member, self.invitation_id)
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} invited {} as {}", self.email, self.role)
    }
    const ICON: &'static str = "user-plus";
    fn validate(&self) -> crate::Result<()> {
        if !self.email.contains('@') {
            return Err(crate::Error::invalid("email", "not an e-mail address"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberJoined {
    pub member_id: Uuid,
    pub name: String,
    pub role: String,
}

impl DomainEvent for MemberJoined {
    const TYPE: &'static str = "member.joined";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Member, self.member_id)
    }
    fn describe(&self, _actor: &str) -> String {
        format!("{} joined the team as {}", self.name, self.role)
    }
    const ICON: &'static str = "user-check";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRemoved {
    pub member_id: Uuid,
    pub name: String,
    pub role: String,
}

impl DomainEvent for MemberRemoved {
    const TYPE: &'static str = "member.removed";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Member, self.member_id)
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} removed {} from the team", self.name)
    }
    const ICON: &'static str = "user-minus";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRoleChanged {
    pub member_id: Uuid,
    pub name: String,
    pub from: String,
    pub to: String,
}

impl DomainEvent for MemberRoleChanged {
    const TYPE: &'static str = "member.role_changed";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Member, self.member_id)
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} made {} {} (was {})", self.name, self.to, self.from)
    }
    const ICON: &'static str = "user-cog";
}

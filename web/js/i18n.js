// Chinese and English text. The language follows the browser (navigator.language) until
// the user picks one with the toggle; the choice is kept in localStorage.

const TEXT = {
  en: {
    groups: 'Groups', search: 'Search', join: 'Join', create: 'New group', profile: 'Me',
    noGroups: 'No groups yet: create one or join with an invite code.',
    notLoggedIn: 'Not logged in. Run `qun ui --open` on this machine for a login link.',
    send: 'Send', reply: 'Reply', replyingTo: 'Replying to {0}', cancel: 'Cancel',
    messagePlaceholder: 'Message', loadMore: 'Scroll up for older messages',
    noMessages: 'No messages yet.', members: 'Members', stats: 'Stats', requests: 'Requests',
    invite: 'Invite', owner: 'owner', member: 'member', you: 'you', leave: 'Leave group',
    confirmLeave: 'Leave this group?',
    admin: 'admin', admins: 'Admins', epoch: 'Epoch', mutedN: 'Muted', muted: 'muted',
    mutedUntil: 'muted until {0}', banned: 'banned', bannedN: 'Banned ({0})', manage: 'Manage',
    act_admin: 'Make admin', act_member: 'Make member', act_mute: 'Mute', act_unmute: 'Unmute',
    act_remove: 'Remove', act_ban: 'Ban', act_unban: 'Unban', act_transfer: 'Make owner',
    for10m: '10 minutes', for1h: '1 hour', for1d: '1 day', for7d: '7 days', untilUnmuted: 'until unmuted',
    confirm_remove: 'Remove {0} from the group?', confirm_ban: 'Ban {0}? They cannot rejoin until unbanned.',
    confirm_transfer: 'Make {0} the owner? You become an admin.', confirmBtn: 'Confirm',
    refused: 'Refused: {0}', modLog: 'Moderation log', noLog: 'No moderation yet.',
    refusedBy: 'refused ({0}): {1}', pin: 'Pin', unpin: 'Unpin', pinned: 'Pinned',
    messageId: 'message {0}', youMuted: 'You are muted in this group.',
    youMutedUntil: 'You are muted until {0}.', youRemoved: 'You were removed from this group.',
    youBanned: 'You are banned from this group.',
    kind_role: 'role', kind_transfer: 'transfer', kind_remove: 'remove', kind_ban: 'ban',
    kind_unban: 'unban', kind_mute: 'mute', kind_unmute: 'unmute', kind_pin: 'pin', kind_unpin: 'unpin',
    kind_join: 'join', kind_leave: 'leave', kind_announcement: 'announcement', kind_rekey: 're-key', kind_meta: 'info',
    name: 'Name', description: 'Description', tags: 'Tags (comma separated)',
    visibility: 'Visibility', private: 'private (invite only)', listed: 'listed (found by search, join on approval)',
    public: 'public (found by search, anyone joins)', createBtn: 'Create',
    inviteCode: 'Invite code', copy: 'Copy', copied: 'Copied', openChat: 'Open chat',
    inviteHint: 'Share this code or let them scan the QR code. It expires in 7 days.',
    pasteCode: 'Paste an invite code', joinBtn: 'Join', joined: 'Joined {0}',
    requested: 'Request sent to {0}: waiting for an admin', searchPlaceholder: 'Name or tag',
    searchBtn: 'Search', noHits: 'Nothing found.', membersN: '{0} members', request: 'Request',
    note: 'Note for the admins', noRequests: 'No join requests.', approve: 'Approve',
    reject: 'Reject', pending: 'pending', approved: 'approved', rejected: 'rejected',
    bio: 'Bio', gender: 'Gender', birthYear: 'Birth year', female: 'female', male: 'male',
    other: 'other', unset: 'not shared', save: 'Save', saved: 'Saved', myId: 'My id',
    active7d: 'Active (7 days)', online: 'Online', profilesFound: 'Profiles found',
    genderRatio: 'Gender ratio', ageDist: 'Age distribution', activity: 'Posts per day (30 days, UTC)', postsN: '{0} posts',
    averageAge: 'Average age', basedOn: 'based on {0}', noData: 'No data yet',
    loading: 'Loading…', error: 'Error: {0}', announcement: 'Announcement',
    setAnnouncement: 'Set announcement', announcePlaceholder: 'Announcement text',
  },
  zh: {
    groups: '群聊', search: '搜索', join: '加入', create: '建群', profile: '我',
    noGroups: '还没有群：建一个，或用邀请码加入。',
    notLoggedIn: '未登录。请在本机运行 `qun ui --open` 获取登录链接。',
    send: '发送', reply: '回复', replyingTo: '回复 {0}', cancel: '取消',
    messagePlaceholder: '消息', loadMore: '向上滚动查看更早的消息',
    noMessages: '还没有消息。', members: '成员', stats: '统计', requests: '申请',
    invite: '邀请', owner: '群主', member: '成员', you: '我', leave: '退出群聊',
    confirmLeave: '确定退出这个群吗？',
    admin: '管理员', admins: '管理员', epoch: '密钥纪元', mutedN: '禁言中', muted: '禁言中',
    mutedUntil: '禁言至 {0}', banned: '已封禁', bannedN: '已封禁（{0}）', manage: '管理',
    act_admin: '设为管理员', act_member: '取消管理员', act_mute: '禁言', act_unmute: '解除禁言',
    act_remove: '移出群聊', act_ban: '封禁', act_unban: '解除封禁', act_transfer: '转让群主',
    for10m: '10 分钟', for1h: '1 小时', for1d: '1 天', for7d: '7 天', untilUnmuted: '直到解除',
    confirm_remove: '确定将 {0} 移出群聊吗？', confirm_ban: '确定封禁 {0} 吗？解除封禁前无法再加入。',
    confirm_transfer: '确定把群主转让给 {0} 吗？你将成为管理员。', confirmBtn: '确定',
    refused: '被拒绝：{0}', modLog: '管理记录', noLog: '还没有管理操作。',
    refusedBy: '未生效（{0}）：{1}', pin: '置顶', unpin: '取消置顶', pinned: '置顶',
    messageId: '消息 {0}', youMuted: '你在本群被禁言。',
    youMutedUntil: '你在本群被禁言至 {0}。', youRemoved: '你已被移出本群。',
    youBanned: '你已被本群封禁。',
    kind_role: '角色', kind_transfer: '转让', kind_remove: '移出', kind_ban: '封禁',
    kind_unban: '解封', kind_mute: '禁言', kind_unmute: '解禁', kind_pin: '置顶', kind_unpin: '取消置顶',
    kind_join: '加入', kind_leave: '退出', kind_announcement: '公告', kind_rekey: '换密钥', kind_meta: '群资料',
    name: '名称', description: '简介', tags: '标签（用逗号分隔）',
    visibility: '可见性', private: '私密（仅邀请）', listed: '可搜索（需审核加入）',
    public: '公开（可搜索，任何人可加入）', createBtn: '创建',
    inviteCode: '邀请码', copy: '复制', copied: '已复制', openChat: '进入群聊',
    inviteHint: '分享邀请码或让对方扫描二维码，7 天内有效。',
    pasteCode: '粘贴邀请码', joinBtn: '加入', joined: '已加入 {0}',
    requested: '已向 {0} 发送申请，等待管理员审核', searchPlaceholder: '群名或标签',
    searchBtn: '搜索', noHits: '没有找到。', membersN: '{0} 名成员', request: '申请',
    note: '给管理员的留言', noRequests: '没有入群申请。', approve: '同意',
    reject: '拒绝', pending: '待处理', approved: '已同意', rejected: '已拒绝',
    bio: '简介', gender: '性别', birthYear: '出生年份', female: '女', male: '男',
    other: '其他', unset: '不公开', save: '保存', saved: '已保存', myId: '我的 ID',
    active7d: '活跃（7 天）', online: '在线', profilesFound: '已知资料',
    genderRatio: '性别比例', ageDist: '年龄分布', activity: '每日发言数（30 天，UTC）', postsN: '共 {0} 条',
    averageAge: '平均年龄', basedOn: '基于 {0} 人', noData: '暂无数据',
    loading: '加载中…', error: '出错：{0}', announcement: '群公告',
    setAnnouncement: '设置群公告', announcePlaceholder: '公告内容',
  },
};

let lang = localStorage.getItem('qun:lang')
  || ((navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en');

/** The current language, `en` or `zh`. */
export function current() { return lang; }

/** Switches language (kept across visits). */
export function toggle() {
  lang = lang === 'zh' ? 'en' : 'zh';
  localStorage.setItem('qun:lang', lang);
}

/** The text of `key`, with {0}, {1}… replaced by `args`. */
export function t(key, ...args) {
  const s = (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key;
  return s.replace(/\{(\d)\}/g, (_, i) => String(args[Number(i)] ?? ''));
}

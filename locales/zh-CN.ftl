# licd 的简体中文消息。这里的每条消息在 en.ftl 中都有对应（由测试检查）。
# 时间由 licd 按北京时间格式化后作为文本传入。

## 通用

lang-switch = English

## 客户门户

portal-name = 许可证门户
portal-sign-out = 退出登录
portal-back = 返回我的许可证
portal-cancel = 取消，不做任何更改
portal-message-title = 操作未完成

portal-login-title = 登录我的许可证
portal-login-intro = 请使用购买时获得的以下任一凭证登录：
portal-login-token = 卖家发给您的许可证文件（或其文本）：可查看和管理整个许可证；
portal-login-code = 或云商店提供的授权码（License 2.0）：可查看和管理整个许可证；
portal-login-device = 或某台设备上已安装的许可证：只能管理该设备的席位。
portal-login-field = 许可证或授权码
portal-login-file = 或选择许可证文件
portal-login-button = 登录
portal-login-privacy = 您粘贴的内容不会被保存或记录到日志。登录一小时后自动退出。
portal-signed-out = 您已退出登录。
portal-ended = 登录已结束：{ $reason }

portal-error-not-opened = 这不是本服务器签发的许可证或授权码，或者它已被替换。请粘贴卖家发给您的许可证，或云商店提供的授权码。
portal-error-login-csrf = 登录表单已过期或并非来自本页面，请重试。
portal-error-session = 您尚未登录或登录已过期，未做任何更改。请重新登录。
portal-error-csrf = 此表单并非来自您的门户页面（安全令牌缺失或错误），未做任何更改。
portal-error-too-many = 您的网络登录尝试次数过多，请 { $seconds } 秒后重试。
portal-error-no-seat = 当前登录无权管理该席位，或该席位已解绑。

portal-home-title = 我的许可证
portal-license-id = 许可证编号
portal-product = 产品
portal-edition = 版本
portal-status = 状态
portal-status-active = 有效
portal-status-frozen = 已冻结
portal-status-expired = 已过期
portal-status-released = 已吊销
portal-valid-from = 生效时间
portal-valid-until = 到期时间
portal-perpetual = 永久有效
portal-freeze-explained = 许可证到期且未续费时会进入冻结期：软件仍可继续使用 { $days } 天（至 { $until }），请在此之前到云商店续费。
portal-scope-device = 您使用某台设备的许可证登录，只能查看和管理该设备的席位。如需查看全部席位，请使用卖家发送的许可证文件或授权码登录。

portal-seats = 席位（设备）
portal-seats-count = { $count } 个席位
portal-seats-summary = 已使用 { $held } 个席位，共 { $sold } 个。
portal-no-seats = 尚无设备激活此许可证。
portal-col-seat = 席位
portal-col-how = 激活方式
portal-col-taken = 激活时间
portal-col-seen = 最近上报
portal-col-state = 状态
portal-how-online = 在线激活
portal-how-online-transfer = 在线激活（设备转移）
portal-how-offline = 离线激活（激活请求与许可证文件）
portal-how-offline-transfer = 离线激活（设备转移）
portal-not-recorded = 未记录
portal-in-use = 使用中
portal-free-link = 解绑此席位
portal-freed-at = 已于 { $at } 解绑
portal-transfers = 近 365 天设备转移次数：已用 { $used } 次，共 { $limit } 次，剩余 { $left } 次。
portal-freed-notice = 席位 { $seat } 已解绑，可用于激活另一台设备。
portal-freed-own = 席位 { $seat } 已解绑，您已退出登录：用于登录的许可证在该设备上已失效。

portal-devices = 设备
portal-devices-help = 在线激活实例的设备由云商店管理：每台设备请使用其自身的许可证登录本页面。
portal-device-retired = 已停用

portal-leases = 正在使用的浮动席位
portal-no-leases = 当前没有正在使用的浮动席位。
portal-col-instance = 程序
portal-col-lease-until = 有效至
portal-borrowed = 已借出离线使用
portal-sites = 站点服务器
portal-col-site = 站点
portal-col-seats = 席位数

portal-actions = 您可以进行的操作
portal-download-link = 下载许可证文件
portal-exchange-link = 为无法联网的设备激活或解绑

portal-free-title = 确认解绑席位 { $seat }？
portal-free-what = 席位 { $seat }（激活于 { $taken }）将被解绑。
portal-free-stops = 该设备上的许可证将失效：它会被加入软件检查的吊销列表。适用于设备更换、重装系统或丢失的情况。
portal-free-transfer = 之后在该席位上激活新设备将计为一次设备转移：今年第 { $used } 次，共 { $limit } 次。
portal-free-no-transfers = 今年的设备转移次数已用完（已用 { $used } 次，共 { $limit } 次），暂时无法解绑。如设备丢失，请联系卖家。
portal-free-own-seat = 这是您登录所用设备的席位：解绑后您将退出登录。
portal-free-button = 解绑席位

portal-download-title = 下载许可证文件
portal-download-unbound = 这是卖家签发的许可证（最新有效期）。在设备上的软件中安装后，即可激活一个席位。
portal-download-bound = 这是您登录所用设备的许可证（最新有效期），仅在该设备上有效。
portal-download-install = 请妥善保管此文件：任何持有它的人都可以激活席位。
portal-download-button = 下载
portal-no-file = 当前登录没有可下载的许可证文件（通过授权码购买的许可证请直接在软件中激活）。

portal-exchange-title = 无法联网的设备
portal-exchange-for = 许可证 { $license }。
portal-exchange-activate = 激活设备
portal-exchange-activate-help = 设备上的软件会显示以 lor1. 开头的激活请求，或将其保存为文件。请粘贴请求或选择文件，然后在该设备上安装获得的许可证文件。
portal-exchange-request = 激活请求
portal-exchange-or-file = 或选择文件
portal-exchange-activate-button = 获取许可证
portal-exchange-activated = 已为该设备激活席位 { $seat }。请在该设备上安装下面的许可证。
portal-exchange-download = 下载许可证文件
portal-exchange-token = 该设备的许可证
portal-exchange-return = 解绑设备席位
portal-exchange-return-help = 迁移软件时，软件会生成以 ldr1. 开头的解绑回执。请粘贴回执或选择其文件。
portal-exchange-receipt = 解绑回执
portal-exchange-return-button = 解绑席位
portal-exchange-deactivated = 席位 { $seat } 已解绑。今年设备转移次数：{ $used } 次，共 { $limit } 次。
portal-exchange-whole-only = 只有使用卖家发送的许可证文件或授权码登录，才能激活设备。

## API 错误说明（/v1 错误响应中的 message_zh；页面上的拒绝原因）

error-other = 请求未能完成。
error-already_deactivated = 该席位已解绑。
error-code_incomplete = 卖家正在补全此授权码对应的购买信息，请稍后重试。
error-expired = 许可证或租约已过期。
error-frozen = 许可证已冻结，请到云商店续费。
error-internal = 许可证服务器出现错误，请稍后重试。
error-invalid = 请求无效。
error-invalid_code = 授权码格式无效。
error-not_activated = 此授权码尚未在云商店激活。
error-not_delivered = 此授权码对应的订单尚未交付。
error-not_found = 找不到对应的许可证、席位或记录。
error-refused = 云商店拒绝了此授权码。
error-released = 许可证已释放，不再可用。
error-revoked = 许可证或该设备的席位已被吊销。
error-seats_taken = 此许可证的所有席位均已被占用。
error-superseded = 此许可证已被新的许可证替换，请使用最新的许可证文件。
error-too_large = 请求内容过大。
error-too_many_requests = 请求过于频繁，请稍后重试。
error-transfers_exhausted = 今年的设备转移次数已用完。
error-unauthorized = 未登录或凭证错误。
error-unavailable = 许可证服务器繁忙或暂不可用，请稍后重试。
error-unknown_code = 无法识别此授权码。

## 离线激活页面（/activate）

activate-title = 许可证激活
activate-done-title = 激活成功
activate-done-new = 此设备已占用许可证 { $license } 的席位 { $seat }。
activate-done-again = 此设备已占用许可证 { $license } 的席位 { $seat }：以下是该设备的许可证（最新有效期）。
activate-done-transfer = 占用此席位计为一次设备转移。
activate-done-install = 请在该设备上安装许可证：下载许可证文件，或将下面的文本复制到软件中。
activate-download = 下载许可证文件
activate-token = 此设备的许可证
activate-another = 激活其他设备
activate-back = 返回
activate-site-title = 站点授权
activate-site-allotted = 站点服务器可在 { $until } 之前租用许可证 { $license } 的 { $seats } 个席位。
activate-site-renewed = 本次为站点授权续期，之前的授权不再有效。
activate-site-install = 请将其安装到站点服务器：下载文件后，使用 licd site serve --allotment 文件 启动。请在上述日期之前使用 licd site init 重新申请。
activate-site-download = 下载站点授权文件
activate-site-allotment = 站点授权
activate-site-returned-title = 站点席位已归还
activate-site-returned = 站点占用的许可证 { $license } 的 { $seats } 个席位将于 { $at }（其签发的最后一个租约到期时）释放。
activate-site-returned-again = 未做任何更改：该站点已归还这些席位。
activate-returned-title = 席位已归还
activate-returned = 许可证 { $license } 的席位 { $seat } 已解绑，可用于激活其他设备。
activate-returned-transfers = 近 365 天设备转移次数：{ $used } 次，共 { $limit } 次。
activate-error-title = 操作未完成
activate-offline-title = 为无法联网的设备激活
activate-offline-help = 软件会显示以 lor1. 开头的激活请求，或将其保存为文件。请粘贴请求或选择文件，然后下载许可证文件并安装到该设备上。
activate-request = 激活请求
activate-or-file = 或选择文件
activate-button = 获取许可证
activate-site-server-title = 站点许可证服务器
activate-site-server-help = 站点服务器（licd site init）会输出以 lsr1. 开头的请求：将其粘贴到上方的激活请求框即可获取站点授权文件。其回执（以 lsd1. 开头，由 licd site release 生成）请粘贴到下方的回执框，以归还站点的席位。
activate-return-title = 归还席位
activate-return-help = 将软件迁移到其他设备时，软件会生成以 ldr1. 开头的解绑回执。请粘贴回执或选择其文件以解绑席位。
activate-receipt = 解绑回执
activate-return-button = 解绑席位
activate-portal-hint = 设备丢失或已更换，且没有解绑回执？
activate-portal-link = 登录许可证门户以解绑其席位。

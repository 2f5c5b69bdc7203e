// The destination MX checking SPF as real receivers do: Debian's postfix-policyd-spf-python as a
// policy service in smtpd_recipient_restrictions (README.Debian's setup), its stock policyd-spf.conf
// rejecting SPF fail (HELO_reject = Fail, Mail_From_reject = Fail). The policy server is not chrooted
// (chroot column n) and asks the lab's name server from the host's /etc/resolv.conf.
import type { Keeper } from './keeper.js';

export async function enableSpfPolicy(keeper: Keeper): Promise<void> {
  await keeper.run(['postconf', '-M', 'policyd-spf/unix=policyd-spf unix - n n - 0 spawn user=policyd-spf argv=/usr/bin/policyd-spf']);
  await keeper.run(['postconf', '-e', 'policyd-spf_time_limit=3600',
    'smtpd_recipient_restrictions=permit_mynetworks, reject_unauth_destination, check_policy_service unix:private/policyd-spf']);
  await keeper.run(['postfix', 'reload']);
}

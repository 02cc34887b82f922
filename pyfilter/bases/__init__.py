"""
Bases for kinds of filters: subclass one and write only the policy.

  - L{pyfilter.bases.smtpaccess.SMTPAccessFilter}: decide by the client's
    entry in Courier's SMTP access table;
  - L{pyfilter.bases.authdaemond.AuthdaemondFilter}: ask
    courier-authdaemond about local accounts;
  - L{pyfilter.bases.dnslist.DNSListFilter}: look the client up in DNS
    lists;
  - L{pyfilter.bases.spf.SPFFilter}: evaluate the sender's SPF policy.
"""
